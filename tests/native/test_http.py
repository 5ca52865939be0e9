"""The lean HTTP/1.1 pool (providers/native/http) against real sockets on 127.0.0.1: how
it frames answers (Content-Length, chunks, close-delimited, interim 100), when it keeps
a connection, how it says that no answer came, and the CONNECT tunnel to an https
endpoint through a proxy, with the endpoint's certificate checked against a CA bundle."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from providers.native.http import Pool, SendFailed, pool_for
from tests.native.test_data_plane import private_ca

Handler = Callable[[socket.socket, bytes], None]


class Server:
    """Accepts connections; per request (head and body read by Content-Length) calls the
    handler with the raw request, which writes whatever answer the test wants."""

    def __init__(self, handler: Handler, context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.context = context
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                self.requests.append(head + b"\r\n\r\n" + body)
                self.handler(conn, head + b"\r\n\r\n" + body)
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handler: Handler, context: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(handler, context))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def answer(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_content_length_answers_reuse_one_connection(serve: Callable[..., Server]) -> None:
    def handler(conn: socket.socket, request: bytes) -> None:
        body = request.split(b"\r\n\r\n", 1)[1]
        conn.sendall(answer("201 Created", {"Content-Length": str(len(body)), "X-A": "1"}, body))

    server = serve(handler)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    for i in range(5):
        got = pool.request("PUT", f"/c/k{i}", b"x" * (1000 + i), {"X-Ms-Thing": "v"})
        assert (got.status, got.body, got.headers["x-a"]) == (201, b"x" * (1000 + i), "1")
    assert server.connections == 1
    first = server.requests[0].split(b"\r\n")
    assert first[0] == b"PUT /c/k0 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in first
    assert b"Content-Length: 1000" in first and b"X-Ms-Thing: v" in first


def test_chunked_interim_and_close_delimited_answers(serve: Callable[..., Server]) -> None:
    chunks = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
    replies = iter(
        [
            b"HTTP/1.1 100 Continue\r\n\r\n"
            + answer("200 OK", {"Transfer-Encoding": "chunked"}, chunks),
            answer("200 OK", {"Content-Length": "2"}, b"ok"),
            answer("200 OK", {"Connection": "close"}, b"until the end"),
        ]
    )

    def handler(conn: socket.socket, request: bytes) -> None:
        reply = next(replies)
        conn.sendall(reply)
        if b"Connection: close" in reply:
            conn.shutdown(socket.SHUT_RDWR)

    server = serve(handler)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    assert pool.request("GET", "/a", b"", {}).body == b"hello world"
    assert pool.request("GET", "/b", b"", {}).body == b"ok"
    assert pool.request("GET", "/c", b"", {}).body == b"until the end"
    assert server.connections == 1  # the close-delimited answer was the last on it
    assert not pool._idle  # and it was not kept
    assert b"Content-Length" not in server.requests[0]  # a GET without a body has none


def test_no_answer_is_send_failed_connected_or_not(serve: Callable[..., Server]) -> None:
    def cut(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc")
        conn.shutdown(socket.SHUT_RDWR)

    server = serve(cut)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    with pytest.raises(SendFailed) as caught:
        pool.request("PUT", "/k", b"body", {})
    assert caught.value.connected and not caught.value.tls
    assert not pool._idle
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(SendFailed) as refused:
        Pool(f"http://127.0.0.1:{port}", connect_timeout=2).request("PUT", "/k", b"", {})
    assert not refused.value.connected


def test_a_garbled_answer_is_send_failed(serve: Callable[..., Server]) -> None:
    server = serve(lambda conn, request: conn.sendall(b"SMTP ready\r\n\r\n"))
    with pytest.raises(SendFailed, match="no status line"):
        Pool(f"http://127.0.0.1:{server.port}").request("GET", "/", b"", {})


def test_a_header_with_a_line_break_is_refused_before_sending(
    serve: Callable[..., Server],
) -> None:
    server = serve(lambda conn, request: None)
    with pytest.raises(ValueError, match="line break"):
        Pool(f"http://127.0.0.1:{server.port}").request("GET", "/", b"", {"X": "a\r\nB: c"})
    assert server.requests == []


def test_https_through_a_connect_proxy_checks_the_certificate(
    serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = private_ca(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    endpoint = serve(
        lambda conn, request: conn.sendall(answer("200 OK", {"Content-Length": "3"}, b"tls")),
        ctx,
    )
    tunnels: list[bytes] = []

    def tunnel(client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(4096)
        tunnels.append(head.split(b"\r\n", 1)[0])
        host, port = head.split(b" ")[1].decode().rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                b.close()

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    proxy_sock = socket.socket()
    proxy_sock.bind(("127.0.0.1", 0))
    proxy_sock.listen(4)

    def accept() -> None:
        while True:
            try:
                conn, _ = proxy_sock.accept()
            except OSError:
                return
            threading.Thread(target=tunnel, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    for var in ("NO_PROXY", "no_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_sock.getsockname()[1]}")
    try:
        origin = f"https://127.0.0.1:{endpoint.port}"
        got = pool_for(origin, verify=str(ca)).request("GET", "/x", b"", {})
        assert (got.status, got.body) == (200, b"tls")
        assert tunnels == [f"CONNECT 127.0.0.1:{endpoint.port} HTTP/1.1".encode()]
        # the default roots do not know the private CA: refused, as TLS
        with pytest.raises(SendFailed) as caught:
            pool_for(origin).request("GET", "/x", b"", {})
        assert caught.value.tls and not caught.value.connected
    finally:
        proxy_sock.close()
