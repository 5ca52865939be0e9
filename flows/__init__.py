"""Prefect flows: replicate, cost-compare, deploy/destroy.

Traces and metrics go to OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (a no-op otherwise).
"""

from providers.telemetry import configure_telemetry

configure_telemetry()
