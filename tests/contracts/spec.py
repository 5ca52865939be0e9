"""Read the vendored contracts: Google's protos (HTTP bindings, required fields) and the
operations extracted from azure-rest-api-specs (method, path template, required query
parameters, answers), plus the published examples themselves.

Where everything came from is in tests/contracts/PROVENANCE.md. The fakes consult this
module to refuse what the contract refuses, and tests/contracts/test_fake_routes.py checks
every fake route against it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PROTOS = HERE / "google" / "protos"
AZURE = HERE / "azure"

# ---------------------------------------------------------------------------- templates


def template_regex(template: str, optional: frozenset[str] = frozenset()) -> re.Pattern[str]:
    """A path template (`/v1/{parent=projects/*}/secrets`, `/{scope}/providers/...`,
    `/compute/v1/projects/{project}/zones/{zone}`) as a regex of the concrete paths."""
    out, pos = "", 0
    for m in re.finditer(r"\{([\w.-]+)(?:=([^}]*))?\}", template):
        out += re.escape(template[pos : m.start()])
        pattern = m.group(2)
        if pattern is None or pattern == "*":
            out += (
                r".+" if m.group(1) == "scope" else r"[^/]*" if m.group(1) in optional else r"[^/]+"
            )
        else:
            out += "/".join(
                r".+" if p == "**" else r"[^/]+" if p == "*" else re.escape(p)
                for p in pattern.split("/")
            )
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]))


def sample_path(template: str, values: dict[str, str] | None = None) -> str:
    """A concrete path of the template (each variable filled with a sample value)."""
    values = values or {}

    def fill(m: re.Match[str]) -> str:
        name, pattern = m.group(1), m.group(2)
        if name in values:
            return values[name]
        if pattern is None or pattern == "*":
            return f"sample-{name.replace('.', '-').replace('_', '-')}"
        return "/".join(
            f"sample{i}" if p in ("*", "**") else p for i, p in enumerate(pattern.split("/"))
        )

    return re.sub(r"\{([\w.-]+)(?:=([^}]*))?\}", fill, template)


# ---------------------------------------------------------------------------- Google


@dataclass(frozen=True)
class Rpc:
    """One RPC's HTTP binding and the request fields the proto marks REQUIRED."""

    name: str  # package.Service.Method
    method: str  # GET, POST, ...
    template: str
    body: str | None  # "*", a field name, or None
    request: str
    required: tuple[str, ...]  # camelCase names of REQUIRED fields not bound in the path
    source: str  # the proto file (relative to tests/contracts/google/protos)

    @property
    def regex(self) -> re.Pattern[str]:
        return template_regex(self.template)

    def path_fields(self) -> set[str]:
        return {m.group(1).split(".")[0] for m in re.finditer(r"\{([\w.-]+)", self.template)}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _blocks(text: str, kind: str) -> dict[str, str]:
    """Top-level `kind NAME { ... }` blocks of a proto file, by name."""
    found: dict[str, str] = {}
    for m in re.finditer(rf"^{kind} (\w+) \{{", text, re.M):
        i, depth = m.end(), 1
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found[m.group(1)] = text[m.end() : i - 1]
    return found


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


@functools.cache
def google_rpcs() -> dict[str, Rpc]:
    rpcs: dict[str, Rpc] = {}
    files = sorted(PROTOS.rglob("*.proto"))
    messages: dict[str, str] = {}
    for path in files:
        text = _strip_comments(path.read_text())
        messages.update(_blocks(text, "message"))
    for path in files:
        text = _strip_comments(path.read_text())
        package = re.search(r"^package ([\w.]+);", text, re.M)
        pkg = package.group(1) if package else ""
        for service, body in _blocks(text, "service").items():
            for m in re.finditer(
                r"rpc (\w+)\s*\(\s*([\w.]+)\s*\)\s*returns\s*\([^)]*\)\s*\{(.*?)\n  \}",
                body,
                re.S,
            ):
                option = re.search(
                    r"option \(google\.api\.http\) = \{(.*?)\n    \};", m.group(3), re.S
                )
                if not option:
                    continue
                # the first binding (additional_bindings follow it)
                binding = option.group(1).split("additional_bindings")[0]
                verb = re.search(r'(get|post|put|patch|delete):\s*"([^"]+)"', binding)
                body_field = re.search(r'body:\s*"([^"]+)"', binding)
                if not verb:
                    continue
                request = m.group(2).rsplit(".", 1)[-1]
                rpc = Rpc(
                    name=f"{pkg}.{service}.{m.group(1)}",
                    method=verb.group(1).upper(),
                    template=verb.group(2),
                    body=body_field.group(1) if body_field else None,
                    request=request,
                    required=(),
                    source=str(path.relative_to(PROTOS)),
                )
                required = tuple(
                    _camel(f)
                    for f in _required_fields(messages.get(request, ""))
                    if f not in rpc.path_fields()
                )
                rpcs[rpc.name] = Rpc(**{**rpc.__dict__, "required": required})
    return rpcs


def _required_fields(message: str) -> list[str]:
    flat = re.sub(r"\s+", " ", message)
    return [
        m.group(1)
        for m in re.finditer(r"(?:repeated )?[\w.]+ (\w+) = \d+ \[([^\]]*)\];", flat)
        if "REQUIRED" in m.group(2)
    ]


def google_rpc(name: str) -> Rpc:
    try:
        return google_rpcs()[name]
    except KeyError:
        raise KeyError(f"{name} is not in the vendored protos (tests/contracts/google)") from None


# ---------------------------------------------------------------------------- Azure


@dataclass(frozen=True)
class Operation:
    """One operation of azure-rest-api-specs, as extracted into operations.json."""

    operation_id: str
    service: str
    method: str
    template: str
    api_version: str
    required_query: tuple[str, ...]
    responses: tuple[str, ...]
    long_running: bool = False
    examples: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def regex(self) -> re.Pattern[str]:
        return template_regex(self.template, frozenset(self.extra.get("optional_path", [])))


@functools.cache
def azure_operations() -> dict[str, Operation]:
    data = json.loads((AZURE / "operations.json").read_text())
    ops = {}
    for service, entry in data["services"].items():
        for op_id, op in entry["operations"].items():
            ops[op_id] = Operation(
                operation_id=op_id,
                service=service,
                method=op["method"],
                template=op["path"],
                api_version=entry["api_version"],
                required_query=tuple(op.get("required_query", ["api-version"])),
                responses=tuple(op["responses"]),
                long_running=op.get("long_running", False),
                examples=tuple(op.get("examples", [])),
                extra={
                    k: v
                    for k, v in op.items()
                    if k
                    not in {
                        "method",
                        "path",
                        "required_query",
                        "responses",
                        "long_running",
                        "examples",
                    }
                },
            )
    for op_id, op in data["_protocol"].items():
        ops[op_id] = Operation(
            operation_id=op_id,
            service="arm-protocol",
            method=op["method"],
            template=op["path"],
            api_version="",
            required_query=(),
            responses=("200", "202"),
            extra={"about": op["about"], "sample_values": op.get("sample_values", {})},
        )
    return ops


def azure_operation(op_id: str) -> Operation:
    try:
        return azure_operations()[op_id]
    except KeyError:
        raise KeyError(f"{op_id} is not in tests/contracts/azure/operations.json") from None


@functools.cache
def constraints(service: str) -> dict[str, Any]:
    """The documented limits of one service: `azure/sql`, `google/monitoring`, ..."""
    data: dict[str, Any] = json.loads((HERE / service / "constraints.json").read_text())
    return data


def example(relative: str) -> dict[str, Any]:
    """A vendored example (path relative to tests/contracts), parsed."""
    data: dict[str, Any] = json.loads((HERE / relative).read_text())
    return data


def example_response(relative: str, status: str = "200") -> Any:
    """The body of one documented response of an x-ms-examples file (a deep copy)."""
    return json.loads(json.dumps(example(relative)["responses"][status].get("body")))
