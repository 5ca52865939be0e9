"""A small HTTPS server for fakes of Azure REST APIs, and a test credential.

Azure SDKs refuse to send bearer tokens over plain http, so the fakes serve https with a
throwaway self-signed certificate for 127.0.0.1; clients trust it through their own
`connection_verify=<cert path>` option. Routes are (method, regex on the path); a handler
gets a `Request` and returns (status, headers, body). A failed assertion inside a handler
answers 500 and is kept in `errors`, which the fixtures check after each test.

A route names the azure-rest-api-specs operation(s) it serves (`op=`, looked up in
tests/contracts/azure/operations.json). Before a handler runs, the request is checked
against that operation as the service does: the path must be one of the operation's
templates, query parameters the spec requires (api-version) must be present, enumerated
and ranged query values and path patterns must hold. A request that breaks the contract
gets the ARM error body ({"error": {"code", "message"}}) and is kept in `refused`.
tests/contracts/test_fake_routes.py checks every route against its operation.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.contracts.spec import Operation, azure_operation

FAKE_TOKEN = "fake-bearer-token"


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1/localhost, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake-azure.pem", directory / "fake-azure.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FakeCredential:
    """A TokenCredential that hands out a fixed token and records the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(FAKE_TOKEN, int(time.time()) + 3600)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    match: re.Match[str] | None = None
    #: the azure-rest-api-specs operation the request was matched to
    op: str | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Response = tuple[int, dict[str, str], Any]
Handler = Callable[[Request], Response]


@dataclass
class FakeAzureServer:
    """One fake Azure endpoint over https on 127.0.0.1 (port 0)."""

    cert: Path
    key: Path
    require_token: bool = True
    #: WWW-Authenticate value of the 401 sent to requests without a token (Key Vault style)
    challenge: str | None = None
    routes: list[tuple[str, re.Pattern[str], Handler, tuple[str, ...]]] = field(
        default_factory=list
    )
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: requests answered with a contract error (what the service would refuse)
    refused: list[tuple[Request, dict[str, Any]]] = field(default_factory=list)

    def route(
        self, method: str, pattern: str, op: str | tuple[str, ...] = ()
    ) -> Callable[[Handler], Handler]:
        """Serve `method pattern` as the operation(s) `op` of the vendored specs."""
        ops = (op,) if isinstance(op, str) else tuple(op)

        def add(fn: Handler) -> Handler:
            self.routes.append((method, re.compile(pattern + r"\Z", re.IGNORECASE), fn, ops))
            return fn

        return add

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeAzureServer:
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(
                    self.command,
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                fake.requests.append(req)
                status, headers, body = fake.dispatch(req)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                if body is None:
                    data = b""
                self.send_response(status)
                if data and "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:  # a HEAD handler gives the blob's own
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def dispatch(self, req: Request) -> Response:
        if self.require_token and req.headers.get("authorization") != f"Bearer {FAKE_TOKEN}":
            headers = {"WWW-Authenticate": self.challenge} if self.challenge else {}
            code = "Unauthorized" if "authorization" not in req.headers else "AuthenticationFailed"
            return 401, headers, {"error": {"code": code, "message": "bearer token required"}}
        for method, pattern, fn, ops in self.routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                req.match = m
                if ops:
                    refusal = self._check_contract(req, ops)
                    if refusal is not None:
                        return refusal
                try:
                    return fn(req)
                except AssertionError as err:
                    self.errors.append(f"{req.method} {req.path}: {err}")
                    return 500, {}, {"error": {"code": "FakeAssertion", "message": str(err)}}
                except Exception:
                    self.errors.append(traceback.format_exc())
                    return 500, {}, {"error": {"code": "FakeCrashed", "message": "see errors"}}
        self.errors.append(f"unexpected request {req.method} {req.path}")
        return 404, {}, {"error": {"code": "NotFound", "message": f"no route {req.path}"}}

    def _check_contract(self, req: Request, ops: tuple[str, ...]) -> Response | None:
        candidates = [azure_operation(o) for o in ops]
        found = [o for o in candidates if o.method == req.method and o.regex.fullmatch(req.path)]
        if not found:
            self.errors.append(f"{req.method} {req.path} is none of the operations {ops}")
            return 404, {}, error_body("InvalidResourceType", f"no operation serves {req.path}")
        op = found[0]
        req.op = op.operation_id
        problem = contract_problem(op, req)
        if problem is None:
            return None
        body = error_body(*problem)
        self.refused.append((req, body))
        return 400, {}, body

    def of(self, method: str, contains: str = "") -> list[Request]:
        """The recorded requests with this method whose path contains the text."""
        return [r for r in self.requests if r.method == method and contains in r.path]


def error_body(code: str, message: str) -> dict[str, Any]:
    """The ARM error shape: {"error": {"code", "message"}}."""
    return {"error": {"code": code, "message": message}}


def contract_problem(op: Operation, req: Request) -> tuple[str, str] | None:
    """(code, message) when the request breaks what the operation's spec requires."""
    for name in op.required_query:
        if not req.query.get(name):
            if name == "api-version":
                return (
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            return "MissingRequiredParameter", f"The query parameter '{name}' is required."
    for name, allowed in op.extra.get("query_enums", {}).items():
        value = req.query.get(name)
        if value is not None and value.lower() not in {a.lower() for a in allowed}:
            return "InvalidParameter", f"'{value}' is not a valid value for {name}: {allowed}"
    for name, (low, high) in op.extra.get("query_ranges", {}).items():
        value = req.query.get(name)
        if value is not None and not (value.isdigit() and low <= int(value) <= high):
            return "BadParameter", f"{name} must be between {low} and {high}, not {value!r}"
    names = re.findall(r"\{([\w.-]+)\}", op.template)
    parts = dict(zip(names, _template_values(op.template, req.path), strict=False))
    for name, pattern in op.extra.get("path_patterns", {}).items():
        if name in parts and not re.match(pattern, parts[name]):
            return "BadParameter", f"{name} {parts[name]!r} does not match {pattern}"
    return None


def _template_values(template: str, path: str) -> list[str]:
    """The path's values of the template's variables, in order."""
    pattern, pos = "", 0
    for m in re.finditer(r"\{([\w.-]+)\}", template):
        pattern += re.escape(template[pos : m.start()])
        pattern += "(.+)" if m.group(1) == "scope" else "([^/]*)"
        pos = m.end()
    found = re.fullmatch(pattern + re.escape(template[pos:]), path)
    return list(found.groups()) if found else []
