"""Pool.stream (providers/native/http), the streamed GET of the lean S3 reads, against
real sockets on 127.0.0.1: a body read whole gives its connection back, a body left
unread or cut closes it, a cut is SendFailed from the iterator, other framings come whole."""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Callable

import pytest

from providers.native.http import Pool, SendFailed
from tests.native.test_http import Server, answer, serve

__all__ = ["serve"]  # the fixture, shared with test_http.py


def test_a_body_read_whole_gives_its_connection_back(serve: Callable[..., Server]) -> None:
    body = bytes(range(256)) * 1000  # 256 KB: more than one recv

    def handler(conn: socket.socket, request: bytes) -> None:
        whole = answer("200 OK", {"Content-Length": str(len(body)), "ETag": '"e"'}, body)
        split = len(whole) - len(body) + 1000
        conn.sendall(whole[:split])  # the head and a first part, the rest a moment later:
        time.sleep(0.1)  # so the body is read as it comes, however fast the machine
        conn.sendall(whole[split:])

    server = serve(handler)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    for _ in range(3):
        got = pool.stream("GET", "/b/k", {"X-A": "1"}, chunk=10_000)
        assert got.status == 200 and got.headers["etag"] == '"e"'
        pieces = list(got.chunks)
        assert b"".join(pieces) == body and len(pieces) > 1
        # what came with the head is one piece; the rest is read chunk by chunk
        assert max(len(p) for p in pieces[1:]) <= 10_000
    assert server.connections == 1 and len(pool._idle) == 1
    assert b"X-A: 1" in server.requests[0]


def test_a_body_left_unread_closes_its_connection(serve: Callable[..., Server]) -> None:
    def handler(conn: socket.socket, request: bytes) -> None:
        conn.sendall(answer("200 OK", {"Content-Length": "100000"}, b"x" * 100_000))

    server = serve(handler)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    got = pool.stream("GET", "/k", {}, chunk=1000)
    assert next(got.chunks)
    del got
    gc.collect()
    assert not pool._idle  # never reused with the rest of a body waiting on it
    assert b"".join(pool.stream("GET", "/k", {}).chunks) == b"x" * 100_000
    assert server.connections == 2


def test_a_cut_body_raises_send_failed_from_the_iterator(serve: Callable[..., Server]) -> None:
    def cut(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n" + b"a" * 1000)
        conn.shutdown(socket.SHUT_RDWR)

    server = serve(cut)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    got = pool.stream("GET", "/k", {})
    with pytest.raises(SendFailed, match="short") as caught:
        b"".join(got.chunks)
    assert caught.value.connected
    assert not pool._idle


def test_error_and_chunked_answers_come_whole(serve: Callable[..., Server]) -> None:
    replies = iter(
        [
            answer("404 Not Found", {"Content-Length": "19"}, b"<Code>NoSuchKey</Co"),
            answer("200 OK", {"Transfer-Encoding": "chunked"}, b"3\r\nabc\r\n0\r\n\r\n"),
        ]
    )
    server = serve(lambda conn, request: conn.sendall(next(replies)))
    pool = Pool(f"http://127.0.0.1:{server.port}")
    missing = pool.stream("GET", "/k", {})
    assert missing.status == 404 and missing.read_all() == b"<Code>NoSuchKey</Co"
    assert pool.stream("GET", "/c", {}).read_all() == b"abc"
    assert server.connections == 1
