"""A small keep-alive HTTP/1.1 connection pool over plain sockets.

For the native requests that go one per object (the lean Azure Put Blob and List Blobs,
the lean GCS upload): urllib3's PoolManager costs about twice the client CPU of
http.client per request (URL parsing, header containers, retry bookkeeping), and
http.client parses every answer's headers through the email package (about 0.6 ms of a
16 KiB Put Blob's 1.0 ms); this pool writes the request as one buffer and splits the
answer's head once. It keeps idle connections to ONE origin, checks a reused one is still open
before sending on it (as urllib3 does), honours a CA bundle or no verification, the
connect and read timeouts, and an HTTP(S) proxy (absolute-form requests through an http
proxy; a CONNECT tunnel for https). It never retries: a failure is the caller's to map
and the level above to retry (docs/replication.md, "Retries: one owner per level").
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from providers.httpenv import requests_env


class SendFailed(Exception):
    """No answer came: the connection could not be made (`connected` False), or broke
    while the request was sent or the answer awaited/read (`connected` True)."""

    def __init__(self, message: str, *, connected: bool, tls: bool = False) -> None:
        super().__init__(message)
        self.connected = connected
        self.tls = tls


@dataclass(frozen=True)
class StreamedAnswer:
    """An answer whose body is read as it is consumed (Pool.stream)."""

    status: int
    headers: Mapping[str, str]  # lowercase names
    chunks: Iterator[bytes]

    def read_all(self) -> bytes:
        return b"".join(self.chunks)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lowercase names
    body: bytes


#: the longest status line and headers an answer may have (http.client allows 100
#: headers of 64 KiB each; every answer these writers get has a dozen short ones)
MAX_HEAD = 256 * 1024
_NO_BODY = frozenset({204, 304})


class _Conn:
    """One open connection and the bytes read past the last answer (none, normally)."""

    __slots__ = ("pending", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = b""

    def close(self) -> None:
        self.sock.close()


class Pool:
    """Idle keep-alive connections to one origin (scheme://host:port).

    HTTP/1.1 over a socket, written for these writers' one request and one whole answer
    per object: the request is one buffer (headers, then the body), the answer's head
    is split once, its body read by Content-Length or chunks. The standard library's
    http.client parses every answer's headers through the email package, which was most
    of the client CPU of a 16 KiB Put Blob."""

    def __init__(
        self,
        origin: str,
        *,
        connect_timeout: float = 20.0,
        read_timeout: float = 60.0,
        context: ssl.SSLContext | None = None,
        proxy: str | None = None,
        maxsize: int = 32,
    ) -> None:
        parts = urlsplit(origin)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.context = context if self.https else None
        if self.https and self.context is None:
            self.context = ssl.create_default_context()
        self.proxy = urlsplit(proxy) if proxy else None
        self.maxsize = maxsize
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.https else 80
        #: the Host header, as http.client writes it (no port when it is the default)
        self.host_header = host if self.port == default else f"{host}:{self.port}"
        self._idle: list[_Conn] = []
        self._lock = threading.Lock()

    @property
    def absolute_form(self) -> bool:
        """Requests name the absolute URL (plain http through a forward proxy)."""
        return self.proxy is not None and not self.https

    def _new(self) -> _Conn:
        if self.proxy is not None:
            where = (self.proxy.hostname or "", self.proxy.port or 80)
        else:
            where = (self.host, self.port)
        try:
            sock = socket.create_connection(where, timeout=self.connect_timeout)
        except OSError as exc:
            raise SendFailed(f"connect: {exc}", connected=False) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.proxy is not None and self.https:
                self._tunnel(sock)
            if self.https:
                assert self.context is not None
                sock = self.context.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.read_timeout)
        except ssl.SSLError as exc:
            sock.close()
            raise SendFailed(f"TLS: {exc}", connected=False, tls=True) from exc
        except SendFailed:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise SendFailed(f"connect: {exc}", connected=False) from exc
        return _Conn(sock)

    def _tunnel(self, sock: socket.socket) -> None:
        """CONNECT host:port through the proxy (https through an http proxy)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        target = f"{host}:{self.port}"
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii"))
        conn = _Conn(sock)
        status, _, _ = _read_head(conn)
        if status != 200:
            raise SendFailed(f"connect: the proxy answered CONNECT with {status}", connected=False)

    def _get(self) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new()
            if _still_open(conn.sock):
                return conn
            conn.close()

    def _put(self, conn: _Conn) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def request(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One request (target: path and query) and its whole answer."""
        conn = self._get()
        url = f"{self.origin}{target}" if self.absolute_form else target
        lines = [f"{method} {url} HTTP/1.1", f"Host: {self.host_header}",
                 "Accept-Encoding: identity"]  # fmt: skip
        has_length = False
        for name, value in headers.items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                conn.close()
                raise ValueError(f"a header holds a line break: {name!r}")
            has_length = has_length or name.lower() == "content-length"
            lines.append(f"{name}: {value}")
        if not has_length and (body or method in ("PUT", "POST", "PATCH")):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if len(body) <= 1024 * 1024:
                conn.sock.sendall(head + body if body else head)
            else:
                conn.sock.sendall(head)
                conn.sock.sendall(body)
            status, answer_headers, keep = _read_head(conn)
            while 100 <= status < 200:  # interim answers (100 Continue): the real one follows
                status, answer_headers, keep = _read_head(conn)
            data, keep = _read_body(conn, method, status, answer_headers, keep)
        except (OSError, _Malformed) as exc:
            conn.close()
            raise _failed(exc) from exc
        if keep and not conn.pending:
            self._put(conn)
        else:
            conn.close()
        return Answer(status, answer_headers, data)

    def stream(
        self, method: str, target: str, headers: Mapping[str, str], *, chunk: int = 256 * 1024
    ) -> StreamedAnswer:
        """One body-less request (GET) whose answer's body is read as it is consumed:
        `StreamedAnswer.chunks` yields it piece by piece (for an answer with a
        Content-Length; any other comes whole, as one piece). The connection goes back to
        the pool once the last byte was read; a body left unread (the iterator closed or
        dropped) closes it. A cut while reading raises SendFailed (connected) from the
        iterator: the caller maps it; nothing here retries."""
        conn = self._get()
        url = f"{self.origin}{target}" if self.absolute_form else target
        lines = [f"{method} {url} HTTP/1.1", f"Host: {self.host_header}",
                 "Accept-Encoding: identity"]  # fmt: skip
        for name, value in headers.items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                conn.close()
                raise ValueError(f"a header holds a line break: {name!r}")
            lines.append(f"{name}: {value}")
        try:
            conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            status, answer_headers, keep = _read_head(conn)
            while 100 <= status < 200:
                status, answer_headers, keep = _read_head(conn)
            length_text = answer_headers.get("content-length")
            plain = (
                method != "HEAD"
                and status not in _NO_BODY
                and "chunked" not in answer_headers.get("transfer-encoding", "").lower()
                and length_text is not None
                and length_text.isdigit()
            )
            if not plain:
                data, keep = _read_body(conn, method, status, answer_headers, keep)
        except (OSError, _Malformed) as exc:
            conn.close()
            raise _failed(exc) from exc
        if not plain:
            if keep and not conn.pending:
                self._put(conn)
            else:
                conn.close()
            return StreamedAnswer(status, answer_headers, iter((data,) if data else ()))
        return StreamedAnswer(
            status, answer_headers, self._pieces(conn, int(length_text or 0), keep, chunk)
        )

    def _pieces(self, conn: _Conn, length: int, keep: bool, chunk: int) -> Iterator[bytes]:
        done = False
        try:
            left = length
            if conn.pending:
                first, conn.pending = conn.pending[:left], conn.pending[left:]
                left -= len(first)
                yield first
            while left > 0:
                try:
                    piece = conn.sock.recv(min(chunk, left))
                except OSError as exc:
                    raise _failed(exc) from exc
                if not piece:
                    raise SendFailed(
                        f"IncompleteRead: the body ended {left} bytes short of {length}",
                        connected=True,
                    )
                left -= len(piece)
                yield piece
            done = True
        finally:
            if done and keep and not conn.pending:
                self._put(conn)
            else:
                conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Malformed(Exception):
    """The answer is not HTTP/1.x as these writers read it (or it was cut short)."""


def _failed(exc: BaseException) -> SendFailed:
    """A failure on a connected socket (TLS, the socket, a malformed answer) as SendFailed;
    the caller closes the connection."""
    if isinstance(exc, ssl.SSLError):
        return SendFailed(f"TLS: {exc}", connected=True, tls=True)
    if isinstance(exc, _Malformed):
        return SendFailed(f"BadAnswer: {exc}", connected=True)
    return SendFailed(f"{type(exc).__name__}: {exc}", connected=True)


def _recv(conn: _Conn) -> bytes:
    chunk = conn.sock.recv(256 * 1024)
    if not chunk:
        raise _Malformed("the server closed the connection before the answer was whole")
    return chunk


def _read_head(conn: _Conn) -> tuple[int, dict[str, str], bool]:
    """(status, lowercase headers (the last of repeated names), keep-alive) of the
    next answer; what was read past its head stays in conn.pending."""
    buf = conn.pending
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > MAX_HEAD:
            raise _Malformed("the answer's head is too long")
        buf += _recv(conn)
    head, conn.pending = buf[:end], buf[end + 4 :]
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _Malformed(f"no status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise _Malformed(f"a header line without ':': {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection and (parts[0] != "HTTP/1.0" or "keep-alive" in connection)
    return int(parts[1]), headers, keep


def _read_body(
    conn: _Conn, method: str, status: int, headers: Mapping[str, str], keep: bool
) -> tuple[bytes, bool]:
    """The whole body (by Content-Length, chunks, or up to the close) and whether the
    connection may carry another request."""
    if method == "HEAD" or status in _NO_BODY:
        return b"", keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(conn), keep
    length_text = headers.get("content-length")
    if length_text is None:  # delimited by the close
        parts = [conn.pending]
        conn.pending = b""
        while chunk := conn.sock.recv(256 * 1024):
            parts.append(chunk)
        return b"".join(parts), False
    try:
        length = int(length_text)
    except ValueError as exc:
        raise _Malformed(f"Content-Length {length_text[:40]!r}") from exc
    if length < 0:
        raise _Malformed(f"Content-Length {length}")
    buf = conn.pending
    if len(buf) >= length:
        conn.pending = buf[length:]
        return buf[:length], keep
    parts, have = [buf], len(buf)
    conn.pending = b""
    while have < length:
        chunk = _recv(conn)
        parts.append(chunk)
        have += len(chunk)
    data = b"".join(parts)
    conn.pending = data[length:]
    return data[:length], keep


def _read_chunked(conn: _Conn) -> bytes:
    parts: list[bytes] = []
    buf = conn.pending
    while True:
        while (end := buf.find(b"\r\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise _Malformed("a chunk size line is too long")
            buf += _recv(conn)
        size_text = buf[:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise _Malformed(f"chunk size {size_text[:20]!r}") from exc
        buf = buf[end + 2 :]
        if size == 0:
            # trailers (none expected), up to the empty line
            while (end := buf.find(b"\r\n")) != 0:
                if end > 0:
                    buf = buf[end + 2 :]
                    continue
                buf += _recv(conn)
            conn.pending = buf[2:]
            return b"".join(parts)
        while len(buf) < size + 2:
            buf += _recv(conn)
        parts.append(buf[:size])
        buf = buf[size + 2 :]


def _still_open(sock: socket.socket) -> bool:
    """An idle connection is usable when nothing is waiting on it: readable means the
    server closed it (EOF) or sent something unasked."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def pool_for(
    origin: str,
    *,
    verify: bool | str = True,
    connect_timeout: float = 20.0,
    read_timeout: float = 60.0,
) -> Pool:
    """A pool to origin that trusts and routes as a requests-based SDK client does: verify
    False (no check), a CA bundle path, or True (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else
    certifi, requests' default); the *_PROXY environment with NO_PROXY, when set."""
    https = origin.startswith("https:")
    env = requests_env()
    context: ssl.SSLContext | None = None
    if https:
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            bundle = verify if isinstance(verify, str) else env.ca_bundle
            if not bundle:
                try:
                    import certifi

                    bundle = certifi.where()
                except ImportError:  # pragma: no cover
                    bundle = None
            if bundle and os.path.isdir(bundle):
                context = ssl.create_default_context(capath=bundle)
            else:
                context = ssl.create_default_context(cafile=bundle)
    proxy = None
    if env.proxies:
        proxies = urllib.request.getproxies()
        url = proxies.get("https" if https else "http") or proxies.get("all")
        if url and not urllib.request.proxy_bypass(urlsplit(origin).hostname or ""):
            proxy = url
    return Pool(
        origin,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        context=context,
        proxy=proxy,
    )
