"""Amazon CloudWatch as CloudMetrics: PutMetricData in batches, GetMetricData with pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from providers.aws.adapter import AWSAdapter
from providers.base import MetricData
from providers.errors import CloudError, ConfigurationError
from providers.operation import cloud_operation

#: PutMetricData takes up to 1000 values and 1 MB per request; 500 keeps well under both
PUT_BATCH = 500
MAX_DIMENSIONS = 30
UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
        "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
        "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
        "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip


def _dimensions(dimensions: Mapping[str, str] | None) -> list[dict[str, str]]:
    dims = [{"Name": k, "Value": str(v)} for k, v in sorted((dimensions or {}).items())]
    if len(dims) > MAX_DIMENSIONS:
        raise ConfigurationError(
            f"{len(dims)} dimensions given; CloudWatch allows {MAX_DIMENSIONS}",
            provider="aws",
            operation="put_metric",
        )
    return dims


class CloudWatchMetrics(AWSAdapter):
    """Custom metrics in one CloudWatch namespace."""

    service_name = "cloudwatch"

    def __init__(self, client: Any, namespace: str = "SpecifyCloud", *, region: str = "") -> None:
        self.client = client
        self.namespace = namespace
        self.region = region

    @property
    def location(self) -> str:
        return f"cloudwatch/{self.region}/{self.namespace}"

    def _datum(self, point: MetricData) -> dict[str, Any]:
        if point.unit not in UNITS:
            raise ConfigurationError(
                f"unknown CloudWatch unit {point.unit!r}",
                provider="aws",
                operation="put_metric",
                resource=point.name,
                hint="Use a CloudWatch unit such as Count, Seconds, Bytes, Percent or None",
            )
        return {
            "MetricName": point.name,
            "Value": float(point.value),
            "Unit": point.unit,
            "Timestamp": point.timestamp,
            "Dimensions": _dimensions(point.dimensions),
        }

    @cloud_operation("put_metric", kind=CloudError, mutating=False, resource="name")
    def put_metric(
        self,
        name: str,
        value: float,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        point = MetricData(name, value, timestamp or datetime.now(UTC), unit, dimensions or {})
        self.client.put_metric_data(Namespace=self.namespace, MetricData=[self._datum(point)])

    @cloud_operation("put_metrics", kind=CloudError, resource=None)
    def put_metrics(self, points: Sequence[MetricData]) -> int:
        """Send many data points in as few requests as the API limits allow."""
        data = [self._datum(p) for p in points]
        for i in range(0, len(data), PUT_BATCH):
            self.client.put_metric_data(
                Namespace=self.namespace, MetricData=data[i : i + PUT_BATCH]
            )
        return len(data)

    @cloud_operation("get_metrics", kind=CloudError, resource="name")
    def get_metrics(
        self,
        name: str,
        start_time: datetime,
        end_time: datetime,
        dimensions: Mapping[str, str] | None = None,
        *,
        period: int = 60,
        stat: str = "Average",
        unit: str = "None",
    ) -> list[MetricData]:
        """Aggregated values per period (GetMetricData, following NextToken), oldest first."""
        stat_spec: dict[str, Any] = {
            "Metric": {
                "Namespace": self.namespace,
                "MetricName": name,
                "Dimensions": _dimensions(dimensions),
            },
            "Period": period,
            "Stat": stat,
        }
        if unit != "None":
            stat_spec["Unit"] = unit
        request: dict[str, Any] = {
            "MetricDataQueries": [{"Id": "m0", "MetricStat": stat_spec, "ReturnData": True}],
            "StartTime": start_time,
            "EndTime": end_time,
            "ScanBy": "TimestampAscending",
        }
        out: list[MetricData] = []
        for page in self.client.get_paginator("get_metric_data").paginate(**request):
            for result in page.get("MetricDataResults", []):
                for ts, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=False
                ):
                    out.append(MetricData(name, float(value), ts, unit, dict(dimensions or {})))
        out.sort(key=lambda m: m.timestamp)
        return out
