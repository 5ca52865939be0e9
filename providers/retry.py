"""The retry policy: a few attempts with exponential backoff, for transient failures only.

Transient means throttling, 5xx answers and dropped connections. Authentication errors and
missing resources are never retried: trying again cannot fix them.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from providers.errors import CloudError

if TYPE_CHECKING:
    from tenacity import Retrying

# tenacity (with the asyncio and tornado support it imports, about 0.13 s of CPU) is
# imported when a retry is first needed: a command that never retries never pays it

T = TypeVar("T")

#: HTTP statuses worth another try
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 8.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(
            attempts=int(os.environ.get("SPECIFY_RETRY_ATTEMPTS", cls.attempts)),
            initial_wait=float(os.environ.get("SPECIFY_RETRY_WAIT", cls.initial_wait)),
            max_wait=float(os.environ.get("SPECIFY_RETRY_MAX_WAIT", cls.max_wait)),
        )

    def retrying(self) -> Retrying:
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        return Retrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=wait_exponential(multiplier=self.initial_wait, max=self.max_wait),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )

    def call(self, fn: Callable[[], T]) -> T:
        # the first try without building a tenacity loop: nearly every call succeeds,
        # and a Retrying per call is measurable at a million objects
        try:
            return fn()
        except Exception as exc:
            if self.attempts <= 1 or not is_transient(exc):
                raise
        # the rest as tenacity would have gone on: the first wait, then doubling
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        time.sleep(min(self.initial_wait, self.max_wait))
        rest = Retrying(
            stop=stop_after_attempt(self.attempts - 1),
            wait=wait_exponential(multiplier=self.initial_wait * 2, max=self.max_wait),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )
        for attempt in rest:
            with attempt:
                return fn()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


def is_transient_status(status: int | None) -> bool:
    return status is not None and (status in TRANSIENT_STATUSES or 500 <= status < 600)


#: exceptions of the HTTP stacks (urllib3, requests, http.client, botocore, azure-core)
#: that mean the connection was cut or reset mid-request or mid-body, by class name so this
#: module imports no SDK. Anything else (4xx answers, bad input, bugs) is permanent.
TRANSIENT_EXCEPTION_NAMES = frozenset(
    {
        "IncompleteRead",  # http.client, mid-body cut
        "RemoteDisconnected",
        "ProtocolError",  # urllib3: connection broken mid-body
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "NewConnectionError",
        "ChunkedEncodingError",  # requests
        "ConnectionError",  # requests.exceptions.ConnectionError is no builtin subclass
        "ReadTimeout",
        "IncompleteReadError",  # botocore: body shorter than Content-Length
        "ResponseStreamingError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ServiceRequestError",  # azure-core
        "ServiceResponseError",
    }
)


def is_transient_exception(exc: BaseException) -> bool:
    """A raw (unmapped) exception that a fresh attempt may not meet again."""
    if isinstance(exc, ConnectionError | TimeoutError | socket.timeout | BrokenPipeError):
        return True
    return any(cls.__name__ in TRANSIENT_EXCEPTION_NAMES for cls in type(exc).__mro__)


def is_transient(exc: BaseException) -> bool:
    """Whether a call that raised exc may succeed when tried again.

    CloudErrors say so themselves (`retryable`: throttling, 5xx, 408/429, cuts, checksum
    mismatches); credentials, missing buckets/keys and other 4xx answers never are.
    """
    if isinstance(exc, CloudError):
        return exc.retryable
    return is_transient_exception(exc)
