"""A fake OpenTelemetry collector: accepts OTLP/HTTP protobuf exports on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Collector:
    def __init__(self) -> None:
        self.span_names: list[str] = []
        #: per span, its "cloud.objects" attribute (a batch's object count) or 1
        self.span_objects: list[tuple[str, int]] = []
        self.metric_names: list[str] = []
        self.requests = 0

    def receive(self, path: str, body: bytes) -> None:
        self.requests += 1
        if path == "/v1/traces":
            traces = ExportTraceServiceRequest.FromString(body)
            for rs in traces.resource_spans:
                for ss in rs.scope_spans:
                    self.span_names += [s.name for s in ss.spans]
                    for s in ss.spans:
                        n = [a.value.int_value for a in s.attributes if a.key == "cloud.objects"]
                        self.span_objects.append((s.name, n[0] if n else 1))

        elif path == "/v1/metrics":
            metrics = ExportMetricsServiceRequest.FromString(body)
            for rm in metrics.resource_metrics:
                for sm in rm.scope_metrics:
                    self.metric_names += [m.name for m in sm.metrics]

    def objects(self, *names: str) -> int:
        """Objects the spans of these names acted on (a batch span counts its objects)."""
        return sum(n for name, n in self.span_objects if name in names)


@contextmanager
def otlp_collector() -> Iterator[tuple[Collector, str]]:
    """Yield the collector and its endpoint URL (for OTEL_EXPORTER_OTLP_ENDPOINT)."""
    collector = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            collector.receive(self.path, body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
