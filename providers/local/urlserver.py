"""A tiny HTTP server for the signed URLs of LocalStorage.get_url (127.0.0.1 only).

GET/HEAD /<key>?expires=..&signature=..  ->  200 with the bytes, 403 when the signature is
wrong or expired, 404 when the object is missing, 400 for a key that is not allowed. The
signature is checked before the key is looked up, so unsigned requests learn nothing.

    python -m providers.local.urlserver BUCKET_DIR [--port 8765]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from providers.errors import CloudError, ConfigurationError, CredentialsError, NotFoundError
from providers.local.storage import CHUNK, LocalStorage

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    server: _URLServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        storage = self.server.storage
        try:
            key = storage.verify_url(self.path)
            obj = storage.head(key)
            stream = storage.open_read(key)
        except CredentialsError as exc:
            return self._error(HTTPStatus.FORBIDDEN, exc.message)
        except ConfigurationError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, exc.message)
        except NotFoundError:
            return self._error(HTTPStatus.NOT_FOUND, "no such object")
        except CloudError as exc:
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, exc.message)
        with stream:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(obj.size))
            if obj.etag:
                self.send_header("ETag", f'"{obj.etag}"')
            if obj.sha256:
                self.send_header("x-specify-sha256", obj.sha256)
            self.end_headers()
            if body:
                shutil.copyfileobj(stream, self.wfile, CHUNK)

    def _error(self, status: HTTPStatus, message: str) -> None:
        data = f"{status.value} {status.phrase}: {message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # the request line holds the signature: log the path only, at debug level
        log.debug("%s %s", self.command, self.path.split("?", 1)[0])


class _URLServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, storage: LocalStorage, port: int) -> None:
        self.storage = storage
        super().__init__((HOST, port), _Handler)


def serve(storage: LocalStorage, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve storage's signed URLs from a background thread; return (server, base URL).

    storage.url_base is set to the base URL, so URLs it signs from now on point here.
    Stop with server.shutdown(); server.server_close()."""
    server = _URLServer(storage, port)
    base_url = f"http://{HOST}:{server.server_address[1]}"
    storage.url_base = base_url
    threading.Thread(target=server.serve_forever, name="local-url-server", daemon=True).start()
    return server, base_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bucket_dir", help="the LocalStorage directory to serve")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    server, base_url = serve(LocalStorage(args.bucket_dir), args.port)
    print(f"serving signed URLs of {args.bucket_dir} at {base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
