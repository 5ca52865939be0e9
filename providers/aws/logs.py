"""Amazon CloudWatch Logs as CloudLogging. One log group; each log_name is a stream.

Records are stored as JSON (`{"level", "message", "attributes"}`) so a query gives back
the same fields. Groups and streams are created on first use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from providers.aws.adapter import AWSAdapter, client_error_code
from providers.base import LogEntry
from providers.errors import CloudError, ConfigurationError
from providers.operation import cloud_operation

# PutLogEvents limits: 10,000 events, 1,048,576 bytes (message bytes + 26 each), 24 hours
MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
MAX_SPAN_MS = 24 * 3600 * 1000


def _ms(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def encode(entry: LogEntry) -> str:
    return json.dumps(
        {"level": entry.level, "message": entry.message, "attributes": dict(entry.attributes)},
        ensure_ascii=False,
    )


def batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split time-ordered events into PutLogEvents-sized batches."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for event in events:
        n = len(event["message"].encode()) + EVENT_OVERHEAD
        if current and (
            len(current) >= MAX_EVENTS
            or size + n > MAX_BATCH_BYTES
            or event["timestamp"] - current[0]["timestamp"] > MAX_SPAN_MS
        ):
            out.append(current)
            current, size = [], 0
        current.append(event)
        size += n
    if current:
        out.append(current)
    return out


class CloudWatchLogs(AWSAdapter):
    """Structured logs in one CloudWatch Logs group."""

    service_name = "logs"

    def __init__(self, client: Any, log_group: str = "/specify-cloud", *, region: str = "") -> None:
        self.client = client
        self.log_group = log_group
        self.region = region
        self._ready: set[str] = set()

    @property
    def location(self) -> str:
        return f"logs/{self.region}{self.log_group}"

    def _ensure(self, stream: str) -> None:
        if stream in self._ready:
            return
        for call, args in (
            (self.client.create_log_group, {"logGroupName": self.log_group}),
            (
                self.client.create_log_stream,
                {"logGroupName": self.log_group, "logStreamName": stream},
            ),
        ):
            try:
                call(**args)
            except Exception as exc:
                if client_error_code(exc) != "ResourceAlreadyExistsException":
                    raise
        self._ready.add(stream)

    def write(
        self,
        message: str,
        level: str = "INFO",
        log_name: str = "default",
        attributes: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        entry = LogEntry(timestamp or datetime.now(UTC), message, level, log_name, attributes or {})
        self.write_entries([entry])

    @cloud_operation("write_entries", kind=CloudError, resource=None)
    def write_entries(self, entries: list[LogEntry]) -> int:
        """Write records per stream in time order, in batches within PutLogEvents limits."""
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            message = encode(entry)
            if len(message.encode()) > MAX_EVENT_BYTES:
                raise ConfigurationError(
                    f"a log record of {len(message.encode())} bytes is over the 256 KiB limit",
                    provider="aws",
                    operation="write",
                    resource=entry.log_name,
                    hint="Split the message",
                )
            by_stream.setdefault(entry.log_name, []).append(
                {"timestamp": _ms(entry.timestamp), "message": message}
            )
        for stream, events in by_stream.items():
            self._ensure(stream)
            events.sort(key=lambda e: e["timestamp"])
            for batch in batches(events):
                self.client.put_log_events(
                    logGroupName=self.log_group, logStreamName=stream, logEvents=batch
                )
        return sum(len(v) for v in by_stream.values())

    @cloud_operation("query", kind=CloudError, resource="log_name")
    def query(
        self,
        start_time: datetime,
        end_time: datetime,
        log_name: str | None = None,
        filter_text: str | None = None,
        limit: int = 1000,
    ) -> list[LogEntry]:
        """Records in [start_time, end_time], optionally one stream and a filter pattern."""
        args: dict[str, Any] = {
            "logGroupName": self.log_group,
            "startTime": _ms(start_time),
            "endTime": _ms(end_time),
        }
        if log_name:
            args["logStreamNames"] = [log_name]
        if filter_text:
            args["filterPattern"] = filter_text
        out: list[LogEntry] = []
        for page in self.client.get_paginator("filter_log_events").paginate(**args):
            for event in page.get("events", []):
                out.append(self._decode(event))
                if len(out) >= limit:
                    return out
        return out

    def _decode(self, event: dict[str, Any]) -> LogEntry:
        when = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
        stream = event.get("logStreamName", "default")
        try:
            data = json.loads(event["message"])
        except ValueError:
            data = None
        if not isinstance(data, dict) or "message" not in data:
            return LogEntry(when, event["message"], "INFO", stream)
        return LogEntry(
            when,
            str(data["message"]),
            str(data.get("level", "INFO")),
            stream,
            {str(k): str(v) for k, v in (data.get("attributes") or {}).items()},
        )
