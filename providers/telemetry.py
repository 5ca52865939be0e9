"""OpenTelemetry tracing and metrics through the API package.

Spans and instruments are no-ops until `configure_telemetry()` installs the SDK, which it
does only when OTEL_EXPORTER_OTLP_ENDPOINT is set (then exporting over OTLP/HTTP), or until
the application installs a provider of its own.

The API is imported only once it can matter (`otel_possible`): no provider can be installed
without importing opentelemetry, so while nothing has imported it and no OTEL_ variable
names an exporter or provider, every span and instrument here is skipped without importing
it (about 55 ms of CPU at each CLI start, and a no-op call per object).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from functools import cache
from typing import Any

_configured = False
_lock = threading.Lock()

#: variables that make a provider appear without the application importing opentelemetry
#: first: configure_telemetry's endpoint, and the API's own provider entry points
_OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_PYTHON_TRACER_PROVIDER",
    "OTEL_PYTHON_METER_PROVIDER",
)


def otel_possible() -> bool:
    """Whether a tracer or meter provider can be installed in this process: something
    imported opentelemetry (the application, an instrumentation, Prefect), or an OTEL_
    variable will make one."""
    return "opentelemetry" in sys.modules or any(os.environ.get(v) for v in _OTEL_VARIABLES)


@cache
def _tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer("specify_cloud")


@cache
def _meter() -> Any:
    from opentelemetry import metrics

    return metrics.get_meter("specify_cloud")


class _NoSpan:
    """What a span is while no tracer provider is installed: nothing."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def record_exception(self, exc: BaseException) -> None:
        pass

    def set_status(self, status: Any) -> None:
        pass


_NO_SPAN = contextlib.nullcontext(_NoSpan())


def span(name: str) -> contextlib.AbstractContextManager[Any]:
    """The current span named name while a tracer provider is installed, else a no-op."""
    return _tracer().start_as_current_span(name) if tracing_enabled() else _NO_SPAN


def span_failed(current: Any, err: BaseException) -> None:
    """Record err on a span and mark it failed (nothing on a no-op span)."""
    if isinstance(current, _NoSpan):
        return
    from opentelemetry.trace import Status, StatusCode

    current.record_exception(err)
    current.set_status(Status(StatusCode.ERROR, str(err)))


# The seed's metric names.
METRIC_NAMES = (
    "cloud.upload.count",
    "cloud.upload.duration",
    "cloud.upload.bytes",
    "cloud.download.count",
    "cloud.deploy.count",
    "cloud.deploy.duration",
    "cloud.cost.total",
)


def tracing_enabled() -> bool:
    """Whether a tracer provider is installed (by configure_telemetry, the application, or
    OTEL_PYTHON_TRACER_PROVIDER). Without one every span is a no-op, and the per-object
    operations skip even opening it (about 40 us each, twice per object copied)."""
    if not otel_possible():
        return False
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@cache
def counter(name: str, unit: str = "1") -> Any:
    return _meter().create_counter(name, unit=unit)


@cache
def histogram(name: str, unit: str = "s") -> Any:
    return _meter().create_histogram(name, unit=unit)


def record_operation(kind: str, provider: str, duration_s: float, nbytes: int | None) -> None:
    """Record the seed's per-operation metrics for kind in {upload, download, deploy}."""
    if not otel_possible():
        return  # no meter provider can exist: the API's instruments would drop it
    attrs = {"cloud.provider": provider}
    counter(f"cloud.{kind}.count").add(1, attrs)
    if kind in {"upload", "deploy"}:
        histogram(f"cloud.{kind}.duration").record(duration_s, attrs)
    if kind == "upload" and nbytes is not None:
        counter("cloud.upload.bytes", unit="By").add(nbytes, attrs)


def record_uploads(provider: str, count: int, nbytes: int, duration_s: float) -> None:
    """The seed's upload metrics for a batch of count objects written in one call."""
    if not otel_possible():
        return
    attrs = {"cloud.provider": provider}
    counter("cloud.upload.count").add(count, attrs)
    counter("cloud.upload.bytes", unit="By").add(nbytes, attrs)
    histogram("cloud.upload.duration").record(duration_s / count, attrs)


def record_cost_total(provider: str, amount: float, currency: str) -> None:
    if not otel_possible():
        return
    histogram("cloud.cost.total", unit=currency).record(
        amount, {"cloud.provider": provider, "currency": currency}
    )


def configure_telemetry() -> bool:
    """Install the OTLP exporters when OTEL_EXPORTER_OTLP_ENDPOINT is set. Idempotent."""
    global _configured
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    with _lock:
        if _configured:
            return True
        try:
            from opentelemetry import metrics, trace
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            return False
        resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "specify-cloud")}
        )
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
        _configured = True
        return True
