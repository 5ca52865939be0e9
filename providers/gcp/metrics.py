"""Custom metrics in Cloud Monitoring through its REST API (v3).

google-cloud-monitoring speaks only gRPC, so the JSON API is called through an authorized
session (common.RestClient). A metric `name` is written as the custom metric type
`custom.googleapis.com/<name>` on the `global` monitored resource; dimensions become
metric labels. Reads list the series of that type in the interval, filtered by the same
labels, following nextPageToken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.base import MetricData
from providers.errors import CloudError, ConfigurationError
from providers.gcp.common import GCPService, RestClient, rfc3339, utc
from providers.operation import cloud_operation

DEFAULT_ENDPOINT = "https://monitoring.googleapis.com"
METRIC_PREFIX = "custom.googleapis.com/"
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")
#: TimeInterval (google/monitoring/v3/common.proto): a written point's end time must not be
#: more than 25 hours in the past or more than five minutes in the future
MAX_AGE = timedelta(hours=25)
MAX_AHEAD = timedelta(minutes=5)


def check_write_window(when: datetime, now: datetime | None = None) -> None:
    """Refuse a point Cloud Monitoring would refuse, naming the window it accepts."""
    now = now or datetime.now(UTC)
    oldest, newest = now - MAX_AGE, now + MAX_AHEAD
    if oldest <= when <= newest:
        return
    raise ConfigurationError(
        f"timestamp {rfc3339(when)} is outside the window Cloud Monitoring accepts for new "
        f"points: {rfc3339(oldest)} to {rfc3339(newest)} (at most 25 hours in the past and "
        "5 minutes in the future)",
        provider="gcp",
        operation="put_metric",
        hint="Pass a timestamp within the last 25 hours, or none for now",
    )


def _label_key(key: str) -> str:
    # metric label keys: letters, digits and underscores, starting with a letter
    clean = _LABEL_BAD.sub("_", key)
    return clean if clean[:1].isalpha() else f"l_{clean}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_time(text: str) -> datetime:
    # RFC 3339 with up to nanoseconds; Python keeps microseconds
    head, _, frac = text.rstrip("Z").partition(".")
    value = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return value.replace(microsecond=int((frac + "000000")[:6])) if frac else value


class CloudMonitoringMetrics(GCPService):
    """Custom time series of one project."""

    service_name = "monitoring"

    def __init__(
        self,
        project: str,
        *,
        credentials: Any = None,
        endpoint: str | None = None,
        session: Any = None,
    ) -> None:
        super().__init__(project)
        base = f"{(endpoint or DEFAULT_ENDPOINT).rstrip('/')}/v3/projects/{project}"
        self.rest = RestClient(base, credentials, session)

    def metric_type(self, name: str) -> str:
        return name if name.startswith(METRIC_PREFIX) else METRIC_PREFIX + name.strip("/")

    @cloud_operation("put_metric", kind=CloudError, mutating=True, resource="name")
    def put_metric(
        self,
        name: str,
        value: float,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Write one point of a GAUGE double series (Monitoring creates the descriptor).

        The point's time must lie within the window the API accepts (25 hours back, 5
        minutes ahead), and after the series' previous point; the window is checked here,
        before anything is sent.
        """
        when = utc(timestamp) or datetime.now(UTC)
        check_write_window(when)
        series = {
            "metric": {
                "type": self.metric_type(name),
                "labels": {_label_key(k): str(v) for k, v in (dimensions or {}).items()},
            },
            "resource": {"type": "global", "labels": {"project_id": self.project}},
            "points": [
                {"interval": {"endTime": rfc3339(when)}, "value": {"doubleValue": float(value)}}
            ],
        }
        self.rest.call("POST", "timeSeries", {"timeSeries": [series]})

    @cloud_operation("get_metrics", kind=CloudError, resource="name")
    def get_metrics(
        self,
        name: str,
        start_time: datetime,
        end_time: datetime,
        dimensions: Mapping[str, str] | None = None,
    ) -> list[MetricData]:
        """Every point of the series in (start_time, end_time], oldest first (the API reads
        a half-open interval that excludes its start)."""
        clauses = [f"metric.type = {_quote(self.metric_type(name))}"]
        clauses += [
            f"metric.labels.{_label_key(k)} = {_quote(str(v))}"
            for k, v in (dimensions or {}).items()
        ]
        params = {
            "filter": " AND ".join(clauses),
            "interval.startTime": rfc3339(start_time),
            "interval.endTime": rfc3339(end_time),
            "view": "FULL",
        }
        points: list[MetricData] = []
        while True:
            page = self.rest.call("GET", "timeSeries", params=params)
            for series in page.get("timeSeries", []):
                labels = dict(series.get("metric", {}).get("labels", {}))
                for point in series.get("points", []):
                    value = point.get("value", {})
                    number = value.get("doubleValue", value.get("int64Value", 0))
                    points.append(
                        MetricData(
                            name=name,
                            value=float(number),
                            timestamp=_parse_time(point["interval"]["endTime"]),
                            unit=series.get("unit") or "None",
                            dimensions=labels,
                        )
                    )
            token = page.get("nextPageToken")
            if not token:
                return sorted(points, key=lambda p: p.timestamp)
            params["pageToken"] = token
