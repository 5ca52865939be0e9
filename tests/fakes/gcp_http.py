"""A tiny HTTP server for fakes of Google's REST APIs (stdlib only, 127.0.0.1, port 0).

A fake subclasses `FakeGoogleAPI` and registers handlers with `@route(METHOD, REGEX)`.
Each handler gets the parsed `Request` and returns `(status, body)`; it asserts what the
SDK must send. Every request is recorded; requests no route matches are answered 404 and
kept in `unmatched`, and assertion failures inside handlers are kept in `failures`, so a
test can check both after the SDK call returned.

A route names the RPC it serves (`rpc=`, e.g. "google.monitoring.v3.MetricService.
CreateTimeSeries"), looked up in the vendored protos (tests/contracts/google). Before the
handler runs, the fields the proto marks REQUIRED must be present (in the JSON body, or
as query parameters of a GET), or the request is answered 400 INVALID_ARGUMENT with
Google's error body and kept in `refused`. tests/contracts/test_fake_routes.py checks
every route's method and path against its RPC's HTTP binding.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.contracts.spec import google_rpc

Handler = Callable[..., tuple[int, Any]]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


def google_error(status: int, message: str, reason: str) -> tuple[int, dict[str, Any]]:
    """An error body shaped like Google's (google.rpc.Status in JSON)."""
    return status, {"error": {"code": status, "message": message, "status": reason}}


def route(method: str, pattern: str, rpc: str | None = None) -> Callable[[Handler], Handler]:
    """Serve `method pattern` as the RPC `rpc` of the vendored protos."""

    def mark(fn: Handler) -> Handler:
        fn._route = (method, re.compile(pattern), rpc)  # type: ignore[attr-defined]
        return fn

    return mark


def contract_problem(rpc_name: str, req: Request) -> str | None:
    """Why the request breaks the RPC's contract (a missing REQUIRED field), or None."""
    rpc = google_rpc(rpc_name)
    body: Any = None
    if rpc.body == "*":
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return "Invalid JSON payload received."
    for name in rpc.required:
        if rpc.body == "*":
            present = isinstance(body, dict) and name in body
        elif rpc.body and name == _camel(rpc.body):  # the body is that message
            present = req.body.strip() not in (b"", b"{}", b"null")
        else:
            present = name in req.query or any(k.startswith(name + ".") for k in req.query)
        if not present:
            return f"Invalid request: required field '{name}' of {rpc.request} is not set."
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class FakeGoogleAPI:
    """Base of the fakes: routing, recording, start/stop as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.unmatched: list[Request] = []
        self.failures: list[str] = []
        #: requests answered with a contract error, and the error body
        self.refused: list[tuple[Request, dict[str, Any]]] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler, str | None]] = []
        for klass in type(self).__mro__:
            for name, fn in vars(klass).items():
                spec = getattr(fn, "_route", None)
                if spec:
                    self._routes.append((spec[0], spec[1], getattr(self, name), spec[2]))
        #: when set (an object with `authorized(req)`), requests without its token get 401
        self.auth: Any = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGoogleAPI:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                status, payload = fake.dispatch(req)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                ctype = (
                    "application/octet-stream"
                    if isinstance(payload, bytes)
                    else ("application/json; charset=UTF-8")
                )
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGoogleAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ----------------------------------------------------------------------
    def dispatch(self, req: Request) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(req)
            if self.auth is not None and not self.auth.authorized(req):
                return google_error(
                    401, "Request had invalid authentication credentials", "UNAUTHENTICATED"
                )
            for method, pattern, handler, rpc in self._routes:
                match = pattern.fullmatch(req.path)
                if method == req.method and match:
                    req.params = match.groupdict()
                    problem = contract_problem(rpc, req) if rpc else None
                    if problem:
                        status, body = google_error(400, problem, "INVALID_ARGUMENT")
                        self.refused.append((req, body))
                        return status, body
                    try:
                        return handler(req)
                    except AssertionError as exc:
                        self.failures.append(f"{req.method} {req.path}: {exc}")
                        return google_error(400, f"fake rejected the request: {exc}", "INVALID")
                    except Exception:
                        self.failures.append(traceback.format_exc())
                        return google_error(500, "fake crashed", "INTERNAL")
            self.unmatched.append(req)
            return google_error(404, f"no route for {req.method} {req.path}", "NOT_FOUND")

    def route_table(self) -> list[tuple[str, re.Pattern[str], str | None]]:
        """(method, path regex, rpc) of every route, for the contract test."""
        return [(m, p, rpc) for m, p, _, rpc in self._routes]

    def refuse(self, req: Request, status: int, message: str, reason: str) -> tuple[int, Any]:
        """Answer a contract violation the way the API does, and remember it."""
        answer = google_error(status, message, reason)
        self.refused.append((req, answer[1]))
        return answer

    def calls(self, method: str, path_regex: str) -> list[Request]:
        """The recorded requests with this method whose path matches path_regex."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def assert_clean(self) -> None:
        """No request went unrouted and no handler assertion failed."""
        assert not self.failures, "\n".join(self.failures)
        assert not self.unmatched, [f"{r.method} {r.path}" for r in self.unmatched]
