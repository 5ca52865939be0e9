"""A google.auth transport over providers.native.http pools, so `requests` is not imported.

google-auth credentials fetch and refresh their tokens through whatever object
implements its transport contract, `google.auth.transport.Request`: called with
(url, method, body, headers, timeout), it returns a `google.auth.transport.Response`
(status, headers, data) for every answer, error statuses included, and raises
`google.auth.exceptions.TransportError` when no answer came (google-auth's own
requests/urllib3/http.client transports, and its tests/transport/compliance.py, say
the same). `PoolRequest` is that object over our keep-alive socket pools: one per
origin and timeout (the OAuth token endpoint, the metadata server, IAM Credentials),
trusting CA bundles and routing through proxies as requests would read them from the
environment (`pool_for`). It never retries; the credentials decide.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from google.auth import exceptions, transport

from providers.native.http import Answer, Pool, SendFailed, pool_for

#: google-auth's requests transport waits this long by default (seconds)
AUTH_TIMEOUT = 120.0


class _Headers(Mapping[str, str]):
    """An answer's headers, looked up case-insensitively (as requests' are)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._h = {k.lower(): v for k, v in headers.items()}

    def __getitem__(self, name: str) -> str:
        return self._h[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._h

    def __iter__(self) -> Iterator[str]:
        return iter(self._h)

    def __len__(self) -> int:
        return len(self._h)


class PoolResponse(transport.Response):  # type: ignore[misc]
    """google.auth.transport.Response over an Answer."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._headers = _Headers(answer.headers)

    @property
    def status(self) -> int:
        return self._answer.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._answer.body


class PoolRequest(transport.Request):  # type: ignore[misc]
    """google.auth.transport.Request over pools (see the module's docstring)."""

    def __init__(self, default_timeout: float = AUTH_TIMEOUT) -> None:
        self.default_timeout = default_timeout
        self._pools: dict[tuple[str, float], Pool] = {}
        self._lock = threading.Lock()

    def _pool(self, origin: str, timeout: float) -> Pool:
        key = (origin, timeout)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = pool_for(
                    origin, connect_timeout=timeout, read_timeout=timeout
                )
        return pool

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> PoolResponse:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise exceptions.TransportError(f"not an http(s) URL: {url[:100]!r}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        wait = float(timeout) if timeout else self.default_timeout
        try:
            pool = self._pool(f"{parts.scheme}://{parts.netloc}", wait)
            answer = pool.request(method.upper(), target, data, dict(headers or {}))
        except (SendFailed, ValueError, OSError) as exc:
            raise exceptions.TransportError(f"{type(exc).__name__}: {exc}") from exc
        return PoolResponse(answer)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


__all__ = ["AUTH_TIMEOUT", "PoolRequest", "PoolResponse"]
