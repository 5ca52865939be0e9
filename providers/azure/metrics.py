"""Azure Monitor custom metrics as CloudMetrics.

Data points go through a data collection rule into a Log Analytics table (default
`SpecifyMetrics_CL`: TimeGenerated, Name, Value, Unit, Dimensions) and are read back
with KQL, so custom dimensions of any cardinality are kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from providers.azure.monitor import MonitorStreamService, kql_string
from providers.base import MetricData
from providers.operation import cloud_operation


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class AzureMonitorMetrics(MonitorStreamService):
    """Custom metrics in a Log Analytics workspace."""

    service_name: ClassVar[str] = "monitor"

    default_stream: ClassVar[str] = "Custom-SpecifyMetrics_CL"

    def describe(self, resource: str | None) -> str:
        return f"workspace {self.workspace.workspace_id}, rule {self.workspace.rule_id}"

    @cloud_operation("put_metric", mutating=True, resource="name")
    def put_metric(
        self,
        name: str,
        value: float,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        when = timestamp or datetime.now(UTC)
        record = {
            "TimeGenerated": _utc(when).isoformat(),
            "Name": name,
            "Value": float(value),
            "Unit": unit,
            "Dimensions": json.dumps(dict(dimensions or {}), sort_keys=True),
        }
        self.workspace.upload(self.stream, [record])

    @cloud_operation("get_metrics", resource="name")
    def get_metrics(
        self,
        name: str,
        start_time: datetime,
        end_time: datetime,
        dimensions: Mapping[str, str] | None = None,
    ) -> list[MetricData]:
        kql = f"{self.table} | where Name == {kql_string(name)}"
        for key, val in (dimensions or {}).items():
            kql += (
                f" | where tostring(parse_json(Dimensions)[{kql_string(key)}]) == {kql_string(val)}"
            )
        kql += (
            " | project TimeGenerated, Name, Value, Unit, Dimensions | order by TimeGenerated asc"
        )
        rows = self.workspace.query(kql, start_time, end_time)
        return [
            MetricData(
                name=str(r["Name"]),
                value=float(r["Value"]),
                timestamp=_utc(r["TimeGenerated"]),
                unit=str(r.get("Unit") or "None"),
                dimensions=json.loads(r["Dimensions"]) if r.get("Dimensions") else {},
            )
            for r in rows
        ]
