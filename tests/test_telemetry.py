"""OpenTelemetry: exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, silent otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.otlp import otlp_collector


def _replicate(tmp_path: Path, extra_env: dict[str, str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(f"payload {i}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra_env, SPECIFY_AUDIT_LOG=str(tmp_path / "audit.jsonl"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "commands",
            "cloud",
            "replicate",
            str(src),
            "--to",
            str(tmp_path / "dst"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr


def test_spans_and_the_seed_metrics_reach_the_collector(tmp_path: Path) -> None:
    with otlp_collector() as (collector, endpoint):
        _replicate(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    # the write's span: one per object, or one per batch of small objects
    writes = {"local.storage.upload_stream", "local.storage.write_small"}
    assert writes & set(collector.span_names)
    assert "local.storage.list_objects" in collector.span_names
    assert {"cloud.upload.count", "cloud.upload.bytes", "cloud.upload.duration"} <= set(
        collector.metric_names
    )


def test_nothing_is_exported_without_an_endpoint(tmp_path: Path) -> None:
    with otlp_collector() as (collector, _endpoint):
        _replicate(tmp_path, {})
    assert collector.requests == 0


APP_PROVIDER = """
import hashlib, io, sys
from opentelemetry import trace
from providers.local.storage import LocalStorage
from providers.telemetry import tracing_enabled

store = LocalStorage(sys.argv[1])
data = b"spans"
before = tracing_enabled()
store.upload_stream(io.BytesIO(data), "a", size=5, sha256=hashlib.sha256(data).hexdigest())
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
store.upload_stream(io.BytesIO(data), "b", size=5, sha256=hashlib.sha256(data).hexdigest())
spans = [(s.name, s.attributes.get("cloud.resource")) for s in exporter.get_finished_spans()]
print(before, tracing_enabled(), spans)
"""


def test_an_application_tracer_provider_gets_the_spans(tmp_path: Path) -> None:
    """Without a provider the operations open no span at all; one the application
    installs itself (not configure_telemetry) gets every operation's span."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["SPECIFY_AUDIT_LOG"] = "off"
    run = subprocess.run(
        [sys.executable, "-c", APP_PROVIDER, str(tmp_path / "store")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False True [('local.storage.upload_stream', 'b')]"


NO_OTEL = """
import hashlib, io, sys
from providers.local.storage import LocalStorage
from providers.replication import ReplicationOptions, replicate_prefix

src, dst = LocalStorage(sys.argv[1]), LocalStorage(sys.argv[2])
for i in range(3):
    data = f"payload {i}".encode()
    src.upload_stream(io.BytesIO(data), f"k{i}", size=len(data),
                      sha256=hashlib.sha256(data).hexdigest())
(report,) = replicate_prefix(src, "", [(dst, "")], ReplicationOptions(use_journal=False))
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(report.copied, [o.key for o in dst.list_objects()], loaded)
"""


def test_without_a_provider_opentelemetry_is_not_even_imported(tmp_path: Path) -> None:
    """No provider can be installed without importing opentelemetry: while nothing has
    (and no OTEL_ variable names one), a replication skips the API altogether; a
    variable that makes a provider brings it back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["SPECIFY_AUDIT_LOG"] = "off"

    def run(extra: dict[str, str], name: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", NO_OTEL, str(tmp_path / name / "src"),
             str(tmp_path / name / "dst")],
            capture_output=True, text=True, env={**env, **extra}, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run({}, "plain") == "3 ['k0', 'k1', 'k2'] []"
    named = run({"OTEL_PYTHON_TRACER_PROVIDER": "sdk_tracer_provider"}, "named")
    assert named.startswith("3 ['k0', 'k1', 'k2'] [") and "'opentelemetry.trace'" in named
