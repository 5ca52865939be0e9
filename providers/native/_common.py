"""What the native byte paths share: a stream over an obstore GET, and reading its errors."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from providers.errors import CloudError

if TYPE_CHECKING:
    from providers.native.http import SendFailed

CHUNK = 1024 * 1024
#: the store's own error mapping (its `map_error`): codes, hints, and a not-found told
#: apart as the bucket's or the object's, exactly as on the SDK path
StoreMapper = Callable[..., CloudError]

_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
#: how an HTTP exchange fails on the way: connection resets, cuts, timeouts
_CUT = (
    "error sending request",
    "connection",
    "incomplete",
    "timed out",
    "timeout",
    "body",
    "reset",
    "broken pipe",
    "eof",
    "decoding",
)


class NativeRefused(Exception):
    """The native client refused the endpoint's TLS certificate where the SDK's TLS stack
    may accept it (rustls/webpki is stricter than OpenSSL: e.g. a CA certificate served
    as the server's own, `CaUsedAsEndEntity`). The store then moves this and every later
    byte through its SDK; a certificate neither accepts still fails there."""


#: what rustls says when it refuses a certificate (in the error's debug text)
_TLS_REFUSALS = ("InvalidCertificate", "UnknownIssuer", "CaUsedAsEndEntity")


def refused_tls(exc: BaseException) -> bool:
    text = str(exc)
    return any(word in text for word in _TLS_REFUSALS)


def answer_of(exc: BaseException) -> tuple[int | None, str | None, str, str]:
    """(HTTP status, service error code, service message, first part of the text) of an
    obstore exception; status and code are None when no answer came."""
    from obstore import exceptions as oe

    text = str(exc).split("\n\nDebug source:", 1)[0]
    status_match = _STATUS.search(text)
    status = int(status_match.group(1)) if status_match else None
    if status is None and isinstance(exc, oe.NotFoundError | FileNotFoundError):
        status = 404
    code = _CODE.search(text)
    message = _MESSAGE.search(text)
    return status, code.group(1) if code else None, message.group(1) if message else "", text


def is_cut(text: str) -> bool:
    """Whether a failure with no answer is worth another try (reset, cut, timeout)."""
    lowered = text.lower()
    return any(word in lowered for word in _CUT)


class Body(io.RawIOBase):
    """A forward-only stream over an obstore GET answer (chunks as they arrive)."""

    def __init__(self, chunks: Iterator[Any], errors: Callable[[BaseException], CloudError]):
        self._chunks = chunks
        self._errors = errors
        self._buf = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        while not self._buf and not self._done:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = True
            except Exception as exc:  # obstore raises its own and builtin exceptions
                raise self._errors(exc) from exc
            else:
                self._buf = memoryview(chunk)
        return bool(self._buf)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if not size or not self._fill():
            return b""
        if len(self._buf) >= size:
            out, self._buf = self._buf[:size], self._buf[size:]
            return bytes(out)
        parts = []
        while size > 0 and self._fill():
            take = self._buf[:size]
            parts.append(bytes(take))
            self._buf = self._buf[len(take) :]
            size -= len(take)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def transport_error(
    exc: SendFailed,
    key: str,
    mapper: StoreMapper,
    *,
    provider: str,
    hint: str,
    cause: Callable[[SendFailed, str], Exception],
    operation: str = "upload",
    kind: type[CloudError] | None = None,
) -> CloudError:
    """A lean request that got no answer, as the store's error: a refused certificate
    names what to check (`hint`: the CA bundle settings of that cloud's SDK); a connection
    that could not be made, or broke while sending or waiting (reset, cut, timeout), goes
    through the store's own mapping as the SDK exception it stands for (`cause`: e.g.
    azure-core's ServiceRequestError, requests' ConnectionError), which makes it
    retryable exactly as on the SDK path."""
    if kind is None:
        from providers.errors import UploadError

        kind = UploadError
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if exc.tls:
        return kind(
            f"TLS failed ({text})", provider=provider, operation=operation, resource=key,
            hint=hint,
        )  # fmt: skip
    return mapper(cause(exc, text), operation=operation, resource=key, kind=kind)
