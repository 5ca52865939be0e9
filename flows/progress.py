"""Progress a person sees in the Prefect UI while a task works: a progress artifact per
target, and a log line per target at a steady interval (objects, bytes and rate).

    with TargetProgress("s3://bkt/data", key="replicate-progress-...") as progress:
        replicate_prefix(..., progress=progress)       # the engine's ProgressCallback

The engine calls back from its worker threads; counting is all that happens there. A
ticker thread logs and updates the artifact every `interval` seconds
(SPECIFY_PROGRESS_INTERVAL, 5 s by default), and once more at the end.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from uuid import UUID

from providers.replication import ProgressEvent

DEFAULT_INTERVAL = 5.0


@dataclass(frozen=True)
class ProgressSettings:
    """How often progress is logged and the artifacts updated."""

    interval: float = DEFAULT_INTERVAL

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ProgressSettings:
        env = dict(os.environ if env is None else env)
        text = env.get("SPECIFY_PROGRESS_INTERVAL", "").strip()
        if not text:
            return cls()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"SPECIFY_PROGRESS_INTERVAL={text!r} is not a number of seconds"
            ) from None
        if value <= 0:
            raise ValueError("SPECIFY_PROGRESS_INTERVAL must be positive (seconds)")
        return cls(interval=value)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


def _logger() -> Any:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        import logging

        return logging.getLogger("specify.flows")


def create_progress(key: str, description: str) -> UUID | None:
    """A progress artifact at 0 %, or None outside a run (or when the API refuses it)."""
    from prefect.artifacts import create_progress_artifact

    try:
        made = create_progress_artifact(progress=0.0, key=key, description=description)
    except Exception:  # progress is a courtesy: never fail the work for it
        return None
    return made if isinstance(made, UUID) else None


def update_progress(artifact_id: UUID | None, percent: float) -> None:
    if artifact_id is None:
        return
    from prefect.artifacts import update_progress_artifact

    with contextlib.suppress(Exception):
        update_progress_artifact(artifact_id=artifact_id, progress=max(0.0, min(100.0, percent)))


class _Ticker:
    """Calls fn every interval seconds on its own thread until stopped."""

    def __init__(self, fn: Any, interval: float) -> None:
        self._fn = fn
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="specify-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self._fn()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class TargetProgress:
    """Counts one target's progress from the replication engine's events."""

    def __init__(
        self,
        label: str,
        *,
        key: str,
        description: str | None = None,
        settings: ProgressSettings | None = None,
        artifact: bool = True,
    ) -> None:
        self.label = label
        self.artifact = artifact
        self.key = key
        self.description = description or f"replication to {label}"
        self.settings = settings or ProgressSettings.from_env()
        self._lock = threading.Lock()
        self.planned_objects = 0
        self.planned_bytes = 0
        self.copied = 0
        self.skipped = 0
        self.failed = 0
        self.deleted = 0
        self.bytes_moved = 0
        self.planned = False
        self.done = False
        self._started = time.monotonic()
        self._artifact: UUID | None = None
        self._ticker: _Ticker | None = None
        self._logger: Any = None
        self.lines: list[str] = []  # what was logged, for the caller's report

    # -- the engine's ProgressCallback (called from worker threads)
    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.event == "planned":
                self.planned = True
                self.planned_objects += event.objects
                self.planned_bytes += event.nbytes
            elif event.event == "bytes":
                self.bytes_moved += event.nbytes
            elif event.event == "copied":
                self.copied += max(event.objects, 1)
            elif event.event == "skipped":
                self.skipped += 1
            elif event.event == "failed":
                self.failed += 1
            elif event.event == "deleted":
                self.deleted += 1
            elif event.event == "done":
                self.done = True

    # -- figures
    def percent(self) -> float:
        with self._lock:
            if self.done:
                return 100.0
            if not self.planned:
                return 0.0
            if self.planned_bytes > 0:
                share = min(self.bytes_moved, self.planned_bytes) / self.planned_bytes
            elif self.planned_objects > 0:
                share = (self.copied + self.failed) / self.planned_objects
            else:
                share = 1.0
            return min(share * 100.0, 99.9)  # 100 % only once the engine says done

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        with self._lock:
            rate = self.bytes_moved / elapsed
            parts = [
                f"{self.copied}/{self.planned_objects} objects copied",
                f"{human_bytes(self.bytes_moved)} of {human_bytes(self.planned_bytes)}",
                f"{human_bytes(rate)}/s",
            ]
            if self.skipped:
                parts.append(f"{self.skipped} unchanged")
            if self.failed:
                parts.append(f"{self.failed} failed")
            if self.deleted:
                parts.append(f"{self.deleted} deleted")
            if not self.planned:
                parts = ["listing and comparing", f"{elapsed:.0f} s"]
        return f"{self.label}: " + ", ".join(parts)

    def tick(self) -> None:
        text = self.line()
        self.lines.append(text)
        if self._logger is not None:
            self._logger.info(text)
        update_progress(self._artifact, self.percent())

    # -- lifetime
    def start(self) -> TargetProgress:
        self._started = time.monotonic()
        self._logger = _logger()
        if self.artifact:
            self._artifact = create_progress(self.key, self.description)
        self._ticker = _Ticker(self.tick, self.settings.interval)
        self._ticker.start()
        return self

    def stop(self, ok: bool = True) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if ok:
            with self._lock:
                self.done = True
        self.tick()  # the final figures, at once

    def __enter__(self) -> TargetProgress:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(ok=exc_type is None)


class ShardedProgress:
    """One target's progress over the shards of a run, kept by the flow: a progress artifact
    per target (the share of its shards done, 100 % once the target succeeded) and a log
    line per finished shard with the running totals. Shards log their own lines as they
    copy (TargetProgress, labelled with the shard)."""

    def __init__(self, label: str, *, key: str, shards: int, description: str = "") -> None:
        self.label = label
        self.key = key
        self.shards = max(shards, 1)
        self.description = description or f"replication to {label}, {shards} shards"
        self.done_shards = 0
        self.copied = self.skipped = self.failed = self.deleted = 0
        self.planned = 0
        self.bytes_moved = 0
        self._started = time.monotonic()
        self._artifact: UUID | None = None
        self.lines: list[str] = []

    def start(self) -> ShardedProgress:
        self._started = time.monotonic()
        self._artifact = create_progress(self.key, self.description)
        return self

    def percent(self, finished: bool = False) -> float:
        if finished:
            return 100.0
        return min(self.done_shards / self.shards * 100.0, 99.9)

    def shard_done(self, report: dict[str, Any]) -> None:
        """Add one finished shard's report for this target (and log the totals)."""
        self.done_shards += 1
        self.add(report)
        self.log()
        update_progress(self._artifact, self.percent())

    def add(self, report: dict[str, Any]) -> None:
        self.copied += int(report.get("copied", 0))
        self.skipped += int(report.get("skipped", 0))
        self.failed += int(report.get("failed", 0))
        self.deleted += int(report.get("deleted", 0))
        self.planned += int(report.get("to_copy", 0))
        self.bytes_moved += int(report.get("bytes_copied", 0))

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        parts = [
            f"{self.copied}/{self.planned} objects copied",
            f"{human_bytes(self.bytes_moved)}",
            f"{human_bytes(self.bytes_moved / elapsed)}/s",
            f"{self.done_shards}/{self.shards} shards done",
        ]
        if self.skipped:
            parts.append(f"{self.skipped} unchanged")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.deleted:
            parts.append(f"{self.deleted} deleted")
        return f"{self.label}: " + ", ".join(parts)

    def log(self) -> None:
        text = self.line()
        self.lines.append(text)
        _logger().info(text)

    def finish(self, ok: bool) -> None:
        if ok:
            update_progress(self._artifact, 100.0)
