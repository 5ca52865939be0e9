"""A small keep-alive connection pool over the standard library's http.client.

For the native writers that send one request per object (the lean Azure Put Blob):
urllib3's PoolManager costs about twice the client CPU of http.client per request (URL
parsing, header containers, retry bookkeeping), which is most of what a 16 KiB upload
costs. This pool keeps idle connections to ONE origin, checks a reused one is still open
before sending on it (as urllib3 does), honours a CA bundle or no verification, the
connect and read timeouts, and an HTTP(S) proxy (absolute-form requests through an http
proxy; a CONNECT tunnel for https). It never retries: a failure is the caller's to map
and the level above to retry (docs/replication.md, "Retries: one owner per level").
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Mapping
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
class Answer:
    status: int
    headers: Mapping[str, str]  # lowercase names
    body: bytes


class Pool:
    """Idle keep-alive connections to one origin (scheme://host:port)."""

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
        self.proxy = urlsplit(proxy) if proxy else None
        self.maxsize = maxsize
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @property
    def absolute_form(self) -> bool:
        """Requests name the absolute URL (plain http through a forward proxy)."""
        return self.proxy is not None and not self.https

    def _new(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self.proxy is not None:
            phost, pport = self.proxy.hostname or "", self.proxy.port or 80
            if self.https:
                conn = http.client.HTTPSConnection(
                    phost, pport, timeout=self.connect_timeout, context=self.context
                )
                conn.set_tunnel(self.host, self.port)
            else:
                conn = http.client.HTTPConnection(phost, pport, timeout=self.connect_timeout)
        elif self.https:
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout, context=self.context
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
        except ssl.SSLError as exc:
            conn.close()
            raise SendFailed(f"TLS: {exc}", connected=False, tls=True) from exc
        except OSError as exc:
            conn.close()
            raise SendFailed(f"connect: {exc}", connected=False) from exc
        if conn.sock is not None:
            conn.sock.settimeout(self.read_timeout)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _get(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new()
            if _still_open(conn):
                return conn
            conn.close()

    def _put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def request(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One request (target: path and query) and its whole answer."""
        conn = self._get()
        url = f"{self.origin}{target}" if self.absolute_form else target
        try:
            conn.request(method, url, body=body, headers=dict(headers))
            resp = conn.getresponse()
            data = resp.read()
        except ssl.SSLError as exc:
            conn.close()
            raise SendFailed(f"TLS: {exc}", connected=True, tls=True) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise SendFailed(f"{type(exc).__name__}: {exc}", connected=True) from exc
        answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        if resp.will_close:
            conn.close()
        else:
            self._put(conn)
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """An idle connection is usable when nothing is waiting on it: readable means the
    server closed it (EOF) or sent something unasked."""
    sock = conn.sock
    if sock is None:
        return False
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
