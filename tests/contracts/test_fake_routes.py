"""Every route of every non-storage fake is checked against its vendored definition, so a
fake cannot drift from the published contract again.

Azure: each route names operations of tests/contracts/azure/operations.json; the method
must be the operation's, the route must serve the path the operation's published example
asks for (or a path of its template), and a request without the query parameters the
spec requires is refused with the ARM error. Google: each route names an RPC of the
vendored protos; the method and the path of its google.api.http binding must be served,
and a request missing a REQUIRED field is refused with INVALID_ARGUMENT. The storage fakes
(gcs, azure_blob_versions) and the fault/recording proxies are other contracts' business.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.spec import (
    HERE,
    Operation,
    azure_operation,
    constraints,
    example,
    google_rpc,
    sample_path,
)
from tests.fakes.azure_arm import FakeResourceManager
from tests.fakes.azure_cost import FakeCostManagement
from tests.fakes.azure_https import FAKE_TOKEN, FakeAzureServer
from tests.fakes.azure_https import Request as AzureRequest
from tests.fakes.azure_keyvault import FakeKeyVault
from tests.fakes.azure_monitor import FakeMonitor
from tests.fakes.bigquery import FakeBigQuery
from tests.fakes.gcp_compute import FakeCompute
from tests.fakes.gcp_http import FakeGoogleAPI
from tests.fakes.gcp_http import Request as GoogleRequest
from tests.fakes.gcp_logging import FakeLogging
from tests.fakes.gcp_monitoring import FakeMonitoring
from tests.fakes.gcp_oauth import FakeOAuth
from tests.fakes.gcp_secretmanager import FakeSecretManager
from tests.fakes.gcp_sqladmin import FakeSQLAdmin

FAKES_DIR = Path(__file__).parents[1] / "fakes"
#: fakes outside this contract: storage (the storage contract suite), proxies, OTLP sink,
#: shared plumbing and fixtures
NOT_SERVICE_FAKES = {
    "__init__.py",
    "azure_blob_versions.py",
    "azure_fixtures.py",
    "azure_https.py",
    "faulty_proxy.py",
    "gcp_fixtures.py",
    "gcp_http.py",
    "gcs.py",
    "gcs_versions.py",  # storage: held to the storage contract suite, not a service API here
    "otlp.py",
    "recording_proxy.py",
    "s3_faults.py",
}
AZURE_FAKES = {"azure_arm.py", "azure_cost.py", "azure_keyvault.py", "azure_monitor.py"}
GOOGLE_FAKES = {
    "bigquery.py": FakeBigQuery,
    "gcp_compute.py": FakeCompute,
    "gcp_logging.py": FakeLogging,
    "gcp_monitoring.py": FakeMonitoring,
    "gcp_oauth.py": FakeOAuth,
    "gcp_secretmanager.py": FakeSecretManager,
    "gcp_sqladmin.py": FakeSQLAdmin,
}


def test_every_service_fake_is_checked_here() -> None:
    """A new fake under tests/fakes must be added to this test (or named as not a service)."""
    present = {p.name for p in FAKES_DIR.glob("*.py")}
    assert present - NOT_SERVICE_FAKES == AZURE_FAKES | set(GOOGLE_FAKES)


# ------------------------------------------------------------------------------ Azure


def azure_server() -> FakeAzureServer:
    """A server (not started) with every Azure fake's routes."""
    server = FakeAzureServer(Path("unused.pem"), Path("unused.key"))
    FakeResourceManager(server)
    FakeCostManagement(server, [])
    FakeKeyVault(server)
    FakeMonitor(server, "rule", "workspace")
    server.require_token = True
    return server


def example_path(op: Operation) -> str:
    """The path the operation's first published example asks for (or a template sample)."""
    values: dict[str, str] = dict(op.extra.get("sample_values", {}))
    if op.examples:
        params = example("azure/" + op.examples[0])["parameters"]
        values.update({k: str(v).strip("/") for k, v in params.items() if isinstance(v, str | int)})
    return sample_path(op.template, values)


AZURE_ROUTES = [
    (method, pattern.pattern, op)
    for method, pattern, _, ops in azure_server().routes
    for op in (ops or ("<none>",))
]


@pytest.mark.parametrize(("method", "pattern", "op_id"), AZURE_ROUTES)
def test_azure_route_matches_its_operation(method: str, pattern: str, op_id: str) -> None:
    assert op_id != "<none>", f"route {method} {pattern} names no operation"
    op = azure_operation(op_id)
    assert op.method == method, f"{op_id} is {op.method} in the spec, the fake serves {method}"
    server = azure_server()
    route = next(r for r in server.routes if r[1].pattern == pattern and r[0] == method)
    path = example_path(op)
    assert route[1].match(path), f"{method} {pattern} does not serve {op_id}'s path {path}"
    assert op.regex.fullmatch(path)


@pytest.mark.parametrize(
    "op_id",
    sorted({op for _, _, op in AZURE_ROUTES if azure_operation(op).required_query}),
)
def test_azure_fake_refuses_what_the_spec_requires(op_id: str) -> None:
    op = azure_operation(op_id)
    server = azure_server()
    req = AzureRequest(
        op.method, example_path(op), {}, {"authorization": f"Bearer {FAKE_TOKEN}"}, b"{}"
    )
    status, _, body = server.dispatch(req)
    assert status == 400, (op_id, status, body)
    assert body["error"]["code"] == "MissingApiVersionParameter"
    assert server.refused and not server.errors


def test_azure_fake_answers_a_path_no_operation_has_with_an_error() -> None:
    server = azure_server()
    path = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/snapshots/x"
    req = AzureRequest(
        "GET", path, {"api-version": "2024-07-01"}, {"authorization": f"Bearer {FAKE_TOKEN}"}
    )
    status, _, _ = server.dispatch(req)
    assert status == 404 and server.errors  # recorded: the adapter asked for something odd


# ------------------------------------------------------------------------------ Google


def google_routes() -> list[tuple[str, str, str, str | None]]:
    out = []
    for name, cls in GOOGLE_FAKES.items():
        fake: FakeGoogleAPI = _make(cls)
        for method, pattern, rpc in fake.route_table():
            out.append((name, method, pattern.pattern, rpc))
    return out


def _make(cls: type[Any]) -> Any:
    if cls is FakeBigQuery:
        return FakeBigQuery("p", "p.d.t", [], page_rows=10)
    if cls is FakeOAuth:
        return FakeOAuth()
    return cls("specify-test")


@pytest.mark.parametrize(("fake", "method", "pattern", "rpc"), google_routes())
def test_google_route_matches_its_rpc(
    fake: str, method: str, pattern: str, rpc: str | None
) -> None:
    if fake == "gcp_oauth.py":  # not a gRPC API: RFC 6749 token endpoint
        assert rpc is None and method == "POST" and pattern == r"/token"
        assert constraints("google/oauth")["request.grant_type"].endswith("jwt-bearer")
        return
    assert rpc, f"{fake}: route {method} {pattern} names no RPC"
    binding = google_rpc(rpc)
    assert binding.method == method, f"{rpc} is {binding.method}, {fake} serves {method}"
    import re

    path = sample_path(binding.template)
    assert re.fullmatch(pattern, path), f"{fake}: {pattern} does not serve {rpc}'s {path}"


@pytest.mark.parametrize(
    ("fake", "method", "pattern", "rpc"),
    [r for r in google_routes() if r[3] and google_rpc(r[3]).required],
)
def test_google_fake_refuses_a_missing_required_field(
    fake: str, method: str, pattern: str, rpc: str
) -> None:
    server = _make(GOOGLE_FAKES[fake])
    binding = google_rpc(rpc)
    req = GoogleRequest(method, sample_path(binding.template), {}, {}, b"{}")
    status, body = server.dispatch(req)
    assert status == 400, (rpc, status, body)
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert binding.required[0] in body["error"]["message"]


def test_vendored_files_are_listed_in_provenance() -> None:
    """Each vendored file under tests/contracts is named in PROVENANCE.md."""
    provenance = (HERE / "PROVENANCE.md").read_text()
    vendored = [
        p
        for p in HERE.rglob("*")
        if p.is_file() and p.suffix in {".json", ".proto", ".txt"} and "__pycache__" not in p.parts
    ]
    missing = [str(p.relative_to(HERE)) for p in vendored if p.name not in provenance]
    assert not missing, missing
    for p in vendored:
        if p.suffix == ".json":
            json.loads(p.read_text())


@pytest.mark.parametrize(
    ("method", "path", "query", "code"),
    [
        ("PUT", "/secrets/db_password", {"api-version": "7.5"}, "BadParameter"),
        ("GET", "/secrets", {"api-version": "7.5", "maxresults": "26"}, "BadParameter"),
        (
            "GET",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v",
            {"api-version": "2024-07-01", "$expand": "everything"},
            "InvalidParameter",
        ),
    ],
)
def test_azure_fake_refuses_values_the_spec_does_not_allow(
    method: str, path: str, query: dict[str, str], code: str
) -> None:
    """Path patterns (secret-name), ranges (maxresults 1-25) and enums ($expand)."""
    server = azure_server()
    req = AzureRequest(method, path, query, {"authorization": f"Bearer {FAKE_TOKEN}"}, b"{}")
    status, _, body = server.dispatch(req)
    assert (status, body["error"]["code"]) == (400, code)


def test_log_analytics_fake_answers_the_published_request_in_the_published_shape() -> None:
    published = example("azure/loganalytics/examples/oms-post-example.json")
    server = azure_server()
    body = json.dumps(published["parameters"]["body"]).encode()
    req = AzureRequest(
        "POST",
        "/v1/workspaces/workspace/query",
        {},
        {"authorization": f"Bearer {FAKE_TOKEN}"},
        body,
    )
    status, _, answer = server.dispatch(req)
    expected = published["responses"]["200"]["body"]
    assert status == 200 and set(answer) == set(expected)
    (table,) = answer["tables"]
    assert set(table) == set(expected["tables"][0]) and table["name"] == "PrimaryResult"
