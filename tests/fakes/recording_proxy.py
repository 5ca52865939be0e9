"""A recording HTTP proxy (reverse, or forward through HTTP_PROXY): forwards every request
to an upstream server (an emulator) and keeps (method, path, Content-Range) of each, so a
test can see how the SDK split an upload without touching the SDK. Location headers are
rewritten to point back here."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.seen: list[tuple[str, str, str | None]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append(
                    (self.command, urlsplit(self.path).path, self.headers.get("Content-Range"))
                )
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                # as a forward proxy (HTTP_PROXY) the request line holds an absolute URL;
                # the upstream gets the origin form, as from any forward proxy
                parts = urlsplit(self.path)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                conn.request(self.command, target or "/", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                upstream = f"http://{proxy.host}:{proxy.port}"
                for k, v in resp.getheaders():
                    if k.lower() == "location":
                        # resumable sessions continue at the Location URL: keep them here
                        v = v.replace(upstream, proxy.url)
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
