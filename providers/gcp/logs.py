"""Structured logs in Cloud Logging (google-cloud-logging over its JSON HTTP API).

The generated logging client speaks only gRPC, so the library's own HTTP API is used
(`Client(_use_grpc=False)`), whose endpoint follows client_options. Entries go to
`projects/<project>/logs/<log_name>` on the `global` resource with a JSON payload
(`message` plus the attributes) and the attributes as labels; reads use `entries.list`
with a filter on time, log name and the caller's own filter text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from providers.base import LogEntry
from providers.errors import CloudError
from providers.gcp.common import GCPService, require, rfc3339, utc
from providers.operation import cloud_operation

#: entries.write takes at most 1000 entries (and 10 MB) per request
BATCH = 500
SEVERITIES = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "NOTICE": "NOTICE",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
    "FATAL": "CRITICAL",
}


class CloudLoggingLogs(GCPService):
    """Logs of one project."""

    service_name = "logging"

    def __init__(
        self,
        project: str,
        *,
        credentials: Any = None,
        client_options: Any = None,
        client: Any = None,
    ) -> None:
        super().__init__(project)
        if client is None:
            logging_v2 = require("google.cloud.logging_v2", "google-cloud-logging")
            client = logging_v2.Client(
                project=project,
                credentials=credentials,
                client_options=client_options,
                _use_grpc=False,
            )
        self.client = client

    def log_path(self, log_name: str) -> str:
        return f"projects/{self.project}/logs/{quote(log_name, safe='')}"

    def _resource(self, entry: LogEntry) -> dict[str, Any]:
        attributes = {k: str(v) for k, v in entry.attributes.items()}
        return {
            "logName": self.log_path(entry.log_name),
            "resource": {"type": "global", "labels": {"project_id": self.project}},
            "severity": SEVERITIES.get(entry.level.upper(), "DEFAULT"),
            "timestamp": rfc3339(entry.timestamp),
            "jsonPayload": {**attributes, "message": entry.message},
            "labels": attributes,
        }

    def write(
        self,
        message: str,
        level: str = "INFO",
        log_name: str = "default",
        attributes: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        entry = LogEntry(
            timestamp=utc(timestamp) or datetime.now(UTC),
            message=message,
            level=level,
            log_name=log_name,
            attributes=dict(attributes or {}),
        )
        self.write_entries([entry])

    @cloud_operation("write_entries", kind=CloudError, mutating=True, resource=None)
    def write_entries(self, entries: list[LogEntry]) -> int:
        """Write in batches of BATCH entries; return how many were written."""
        for i in range(0, len(entries), BATCH):
            self.client.logging_api.write_entries(
                [self._resource(e) for e in entries[i : i + BATCH]], partial_success=False
            )
        return len(entries)

    @cloud_operation("query", kind=CloudError, resource="log_name")
    def query(
        self,
        start_time: datetime,
        end_time: datetime,
        log_name: str | None = None,
        filter_text: str | None = None,
        limit: int = 1000,
    ) -> list[LogEntry]:
        """Entries in [start_time, end_time), oldest first, at most limit."""
        clauses = [
            f'timestamp >= "{rfc3339(start_time)}"',
            f'timestamp < "{rfc3339(end_time)}"',
        ]
        if log_name:
            clauses.append(f'logName = "{self.log_path(log_name)}"')
        if filter_text:
            clauses.append(f"({filter_text})")
        entries = self.client.logging_api.list_entries(
            [f"projects/{self.project}"],
            filter_=" AND ".join(clauses),
            order_by="timestamp asc",
            page_size=min(limit, 1000),
            max_results=limit,
        )
        return [self._entry(raw) for raw in entries]

    def _entry(self, raw: Any) -> LogEntry:
        payload = raw.payload
        attributes: dict[str, str] = {}
        if isinstance(payload, Mapping):
            fields = dict(payload)
            message = str(fields.pop("message", ""))
            attributes.update({k: str(v) for k, v in fields.items()})
        else:
            message = "" if payload is None else str(payload)
        attributes.update(dict(raw.labels or {}))
        return LogEntry(
            timestamp=utc(raw.timestamp) or datetime.now(UTC),
            message=message,
            level=str(raw.severity or "DEFAULT"),
            log_name=unquote(str(raw.log_name).rsplit("/logs/", 1)[-1]),
            attributes=attributes,
        )
