"""A fault-injecting HTTP reverse proxy on loopback, to put in front of an emulator.

Each request is, by a seeded random draw, answered with 503 (an S3-style SlowDown error
body), dropped (the connection is closed without an answer after the request was read),
or forwarded to the upstream server and its answer relayed. Counts are kept per outcome.

Body faults (for requests and answers whose body has at least `min_body` bytes, the
object data rather than XML/JSON control bodies):

- flip_request:  one byte in the middle of the request body is flipped, then forwarded
- cut_request:   the connection is closed mid-exchange, the body never forwarded (the
                 client sees a reset while it sends or waits: what a cut mid-upload does)
- flip_response: one byte in the middle of the answer body is flipped
- cut_response:  the answer announces its full Content-Length, sends half, and closes

`schedule` (a list of outcome names) is consumed first, one per matching request, before
any random draw: tests use it to place one fault exactly.

    with FaultyProxy("http://127.0.0.1:5000", p503=0.1, pdrop=0.05) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url)
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # clients closing idle keep-alive connections are not errors worth printing
        pass


BODY_FAULTS = ("flip_request", "cut_request", "flip_response", "cut_response")


class FaultyProxy:
    def __init__(
        self,
        upstream: str,
        *,
        p503: float = 0.1,
        pdrop: float = 0.05,
        seed: int = 7,
        pflip_request: float = 0.0,
        pcut_request: float = 0.0,
        pflip_response: float = 0.0,
        pcut_response: float = 0.0,
        min_body: int = 32 * 1024,
        schedule: list[str] | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.p503 = p503
        self.pdrop = pdrop
        self.body_p = {
            "flip_request": pflip_request,
            "cut_request": pcut_request,
            "flip_response": pflip_response,
            "cut_response": pcut_response,
        }
        self.min_body = min_body
        self.schedule = list(schedule or [])
        self.enabled = True
        #: (method, path, status, answer bytes) per forwarded request
        self.log: list[tuple[str, str, int, int]] = []
        #: (method, path, User-Agent) per request received: which client library sent it
        self.agents: list[tuple[str, str, str]] = []
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _draw(self) -> str:
        with self._lock:
            r = self._rng.random()
        if not self.enabled:
            return "forward"
        if r < self.p503:
            return "503"
        if r < self.p503 + self.pdrop:
            return "drop"
        return "forward"

    def _draw_body(self, kinds: tuple[str, ...]) -> str | None:
        """A body fault of one of kinds (scheduled first, else drawn), or None."""
        if not self.enabled:
            return None
        with self._lock:
            if self.schedule and self.schedule[0] in kinds:
                return self.schedule.pop(0)
            for kind in kinds:
                if self.body_p[kind] and self._rng.random() < self.body_p[kind]:
                    return kind
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _serve(self) -> None:
                body = self._body()
                outcome = proxy._draw()
                request_fault = (
                    proxy._draw_body(("flip_request", "cut_request"))
                    if outcome == "forward" and len(body) >= proxy.min_body
                    else None
                )
                with proxy._lock:
                    proxy.agents.append(
                        (self.command, self.path, self.headers.get("User-Agent") or "")
                    )
                    proxy.counts[outcome] += 1
                    proxy.counts["requests"] += 1
                    if request_fault:
                        proxy.counts[request_fault] += 1
                if request_fault == "flip_request":
                    mid = len(body) // 2
                    body = body[:mid] + bytes([body[mid] ^ 0x01]) + body[mid + 1 :]
                elif request_fault == "cut_request":
                    # the client's body stops half way: the connection is gone before the
                    # server could answer (the server never stores a short body this way)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if outcome == "drop":
                    # the request was read; the answer never comes
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if outcome == "503":
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(SLOW_DOWN)
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                }
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                with proxy._lock:
                    proxy.log.append((self.command, self.path, resp.status, len(data)))
                response_fault = (
                    proxy._draw_body(("flip_response", "cut_response"))
                    if self.command == "GET"
                    and 200 <= resp.status < 300
                    and len(data) >= proxy.min_body
                    else None
                )
                if response_fault:
                    with proxy._lock:
                        proxy.counts[response_fault] += 1
                self.send_response(resp.status, resp.reason)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if response_fault == "flip_response":
                    mid = len(data) // 2
                    data = data[:mid] + bytes([data[mid] ^ 0x01]) + data[mid + 1 :]
                elif response_fault == "cut_response":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

        return Handler
