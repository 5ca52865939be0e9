"""Azure Monitor Logs as CloudLogging.

Records are sent through a data collection rule (azure-monitor-ingestion) to a custom
table (default `SpecifyLogs_CL`: TimeGenerated, Message, Level, LogName, Attributes) and
queried with KQL over a time range (azure-monitor-query).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar

from providers.azure.metrics import _utc
from providers.azure.monitor import MonitorStreamService, kql_string
from providers.base import LogEntry
from providers.operation import cloud_operation


class AzureMonitorLogs(MonitorStreamService):
    """Structured logs in a Log Analytics workspace."""

    service_name: ClassVar[str] = "logs"

    default_stream: ClassVar[str] = "Custom-SpecifyLogs_CL"

    def describe(self, resource: str | None) -> str:
        return f"workspace {self.workspace.workspace_id}, stream {self.stream}"

    def write(
        self,
        message: str,
        level: str = "INFO",
        log_name: str = "default",
        attributes: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        entry = LogEntry(
            timestamp=timestamp or datetime.now(UTC),
            message=message,
            level=level,
            log_name=log_name,
            attributes=dict(attributes or {}),
        )
        self.write_entries([entry])

    @cloud_operation("write_entries", mutating=True, resource=None)
    def write_entries(self, entries: list[LogEntry]) -> int:
        records = [
            {
                "TimeGenerated": _utc(e.timestamp).isoformat(),
                "Message": e.message,
                "Level": e.level.upper(),
                "LogName": e.log_name,
                "Attributes": json.dumps(dict(e.attributes), sort_keys=True),
            }
            for e in entries
        ]
        if records:
            self.workspace.upload(self.stream, records)
        return len(records)

    @cloud_operation("query", resource="log_name")
    def query(
        self,
        start_time: datetime,
        end_time: datetime,
        log_name: str | None = None,
        filter_text: str | None = None,
        limit: int = 1000,
    ) -> list[LogEntry]:
        kql = self.table
        if log_name:
            kql += f" | where LogName == {kql_string(log_name)}"
        if filter_text:
            kql += f" | where Message contains {kql_string(filter_text)}"
        kql += f" | order by TimeGenerated asc | take {int(limit)}"
        return [
            LogEntry(
                timestamp=_utc(r["TimeGenerated"]),
                message=str(r["Message"]),
                level=str(r.get("Level") or "INFO"),
                log_name=str(r.get("LogName") or "default"),
                attributes=json.loads(r["Attributes"]) if r.get("Attributes") else {},
            )
            for r in self.workspace.query(kql, start_time, end_time)
        ]
