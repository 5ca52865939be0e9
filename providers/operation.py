"""Cross-cutting concerns, written once: error mapping, retry, tracing, metrics and audit.

Service implementations subclass `ServiceAdapter` and decorate each public method with
`@cloud_operation(...)`. The decorator opens a span named `<provider>.<service>.<op>`
(e.g. `aws.s3.upload`), maps SDK exceptions through the adapter's `map_error`, retries
the transient ones under the retry policy, records the seed's metrics and writes an audit
record for every mutating call.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, ParamSpec, TypeVar, cast

from providers.audit import audit
from providers.base import StorageObject
from providers.errors import CloudError, CredentialsError, NotFoundError
from providers.retry import RetryPolicy, is_transient_exception, is_transient_status
from providers.telemetry import record_operation, span, span_failed

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class ServiceAdapter:
    """Base of every service implementation; holds what the decorator needs to know."""

    provider_name: ClassVar[str] = ""
    service_name: ClassVar[str] = ""
    retry_policy: RetryPolicy = RetryPolicy.from_env()

    @property
    def location(self) -> str | None:
        """Where this adapter works (bucket, region, project…), for messages and audit."""
        return None

    def map_error(
        self,
        exc: Exception,
        *,
        operation: str,
        resource: str | None,
        kind: type[CloudError],
    ) -> CloudError:
        """Turn an SDK exception into a CloudError. Providers override for their SDK."""
        return map_generic_error(
            exc, provider=self.provider_name, operation=operation, resource=resource, kind=kind
        )


def error_for_status(
    status: int | None,
    message: str,
    *,
    provider: str,
    operation: str,
    resource: str | None,
    kind: type[CloudError],
    auth_hint: str = "Check the credentials and their permissions",
    not_found_hint: str = "Check the name, or create it first",
) -> CloudError:
    """Classify an HTTP-status-bearing failure: auth, not found, transient, or kind."""

    def make(cls: type[CloudError], hint: str | None = None, retryable: bool = False) -> CloudError:
        return cls(
            message,
            provider=provider,
            operation=operation,
            resource=resource,
            hint=hint,
            retryable=retryable,
        )

    if status in (401, 403):
        return make(CredentialsError, auth_hint)
    if status == 404:
        return make(NotFoundError, not_found_hint)
    if is_transient_status(status):
        return make(kind, "The service is busy; try again later", retryable=True)
    return make(kind)


def map_generic_error(
    exc: Exception,
    *,
    provider: str,
    operation: str,
    resource: str | None,
    kind: type[CloudError],
) -> CloudError:
    """Mapping for exceptions that are not SDK-specific (network, OS)."""
    if is_transient_exception(exc):
        return kind(
            f"connection failed ({type(exc).__name__}: {exc})",
            provider=provider,
            operation=operation,
            resource=resource,
            retryable=True,
            hint="Check that the endpoint is reachable",
        )
    return kind(
        f"{type(exc).__name__}: {exc}", provider=provider, operation=operation, resource=resource
    )


def _position(sig: inspect.Signature, name: str) -> int | None:
    """Where a positional-or-keyword parameter sits (a bind per call is measurable)."""
    for i, param in enumerate(sig.parameters.values()):
        if param.name == name:
            ok = param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
            return i if ok else None
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None
    return None


def _resource_of(
    sig: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    index: int | None = None,
) -> str | None:
    if name is None:
        return None
    value = kwargs.get(name)
    if value is None:
        if index is not None and index < len(args):
            value = args[index]
        elif index is None:
            try:
                value = sig.bind_partial(*args, **kwargs).arguments.get(name)
            except TypeError:
                return None
    if value is None:
        return None
    return getattr(value, "name", None) if not isinstance(value, str | Path | int) else str(value)


def _nbytes(result: Any) -> int | None:
    if isinstance(result, StorageObject):
        return result.size
    if isinstance(result, Path) and result.is_file():
        return result.stat().st_size
    return None


def cloud_operation(
    op: str,
    *,
    kind: type[CloudError] = CloudError,
    mutating: bool = False,
    resource: str | None = "remote_key",
    metric: str | None = None,
    retry: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Apply mapping, retry, span, metrics and audit to one adapter method.

    op: the operation's name (last part of the span name); kind: the CloudError subclass
    for failures that are neither auth nor not-found; resource: the argument naming what
    is acted on; metric: 'upload' | 'download' | 'deploy' to record the seed's metrics.
    retry=False for methods that consume a stream they cannot rewind (upload_stream): the
    caller, which can reopen the source, owns their retries. Generator methods (listings)
    are mapped but never retried as a whole; their pages are (see gen_wrapper).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(fn)
        where = _position(sig, resource) if resource is not None else None

        def context(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, str, str | None]:
            adapter = args[0]
            name = f"{adapter.provider_name}.{adapter.service_name}.{op}"
            return adapter, name, _resource_of(sig, args, kwargs, resource, where)

        def call_mapped(adapter: Any, res: str | None, thunk: Callable[[], T]) -> T:
            try:
                return thunk()
            except (CloudError, StopIteration):
                raise
            except Exception as exc:
                raise adapter.map_error(exc, operation=op, resource=res, kind=kind) from exc

        def finish(
            adapter: Any, name: str, res: str | None, started: float, err: BaseException | None
        ) -> None:
            if mutating:
                audit(
                    name,
                    provider=adapter.provider_name,
                    where=adapter.location,
                    resource=res,
                    result="error" if err else "ok",
                    error=err,
                    duration_s=time.perf_counter() - started,
                )

        if inspect.isgeneratorfunction(fn):
            # A listing is never retried here: restarting it and skipping what was already
            # yielded would miss keys when the source changed meanwhile. Each store
            # retries one *page* (a @cloud_operation method taking the continuation token
            # or marker), so a failure deep in a long listing resumes where it stopped.

            @functools.wraps(fn)
            def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
                adapter, name, res = context(args, kwargs)
                started = time.perf_counter()
                with span(name) as current:
                    current.set_attribute("cloud.provider", adapter.provider_name)
                    try:
                        iterator = call_mapped(
                            adapter, res, lambda: iter(cast(Iterator[Any], fn(*args, **kwargs)))
                        )
                        while True:
                            yield call_mapped(adapter, res, functools.partial(next, iterator))
                    except StopIteration:
                        pass
                    except CloudError as err:
                        span_failed(current, err)
                        finish(adapter, name, res, started, err)
                        raise
                finish(adapter, name, res, started, None)

            return cast(Callable[P, R], gen_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            adapter, name, res = context(args, kwargs)
            started = time.perf_counter()
            with span(name) as current:
                current.set_attribute("cloud.provider", adapter.provider_name)
                if res is not None:
                    current.set_attribute("cloud.resource", res)
                if adapter.location:
                    current.set_attribute("cloud.location", adapter.location)

                def once() -> R:
                    return call_mapped(adapter, res, lambda: fn(*args, **kwargs))

                try:
                    result = adapter.retry_policy.call(once) if retry else once()
                except CloudError as err:
                    span_failed(current, err)
                    finish(adapter, name, res, started, err)
                    raise
            if metric:
                record_operation(
                    metric, adapter.provider_name, time.perf_counter() - started, _nbytes(result)
                )
            finish(adapter, name, res, started, None)
            return result

        return wrapper

    return decorate
