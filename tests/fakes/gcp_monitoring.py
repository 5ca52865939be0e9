"""A fake Cloud Monitoring API v3: timeSeries.create and timeSeries.list.

It refuses what the published contract refuses (tests/contracts/google/monitoring and the
vendored protos, google/monitoring/v3/common.proto TimeInterval): more than 200 series per
request, a point whose end time is more than 25 hours in the past or more than five
minutes in the future (of the fake's clock, `now`), a GAUGE interval whose start differs
from its end, and a GAUGE point not at least a millisecond after the previous point of the
same series. Refusals answer 400 INVALID_ARGUMENT, like the service.

Stored points are filtered like the service does for the clauses the provider sends
(`metric.type = "..."` and `metric.labels.KEY = "..."` joined by AND) and by the read
interval, which is half-open, (startTime, endTime]; lists are served one series per page
to exercise nextPageToken.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contracts.spec import constraints
from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

_CLAUSE = re.compile(r'^metric\.(type|labels\.([A-Za-z0-9_]+)) = "((?:[^"\\]|\\.)*)"$')
RPC = "google.monitoring.v3.MetricService."
LIMITS = constraints("google/monitoring")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeMonitoring(FakeGoogleAPI):
    def __init__(self, project: str, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.project = project
        self.now = now or (lambda: datetime.now(UTC))
        self.series: list[dict[str, Any]] = []  # one entry per written point
        self._last_end: dict[tuple[Any, ...], datetime] = {}

    def _window_problem(self, index: int, ts: dict[str, Any]) -> str | None:
        interval = ts["points"][0]["interval"]
        end = _ts(interval["endTime"])
        now = self.now()
        oldest = now - timedelta(seconds=LIMITS["write_max_age_seconds"])
        newest = now + timedelta(seconds=LIMITS["write_max_future_seconds"])
        where = f"timeSeries[{index}]"
        if not oldest <= end <= newest:
            return (
                f"Field {where}.points[0].interval.end_time had an invalid value of "
                f'"{interval["endTime"]}": Data points cannot be written more than 25 hours '
                f"in the past or more than 5 minutes in the future; the allowed window is "
                f"{oldest.isoformat()} to {newest.isoformat()}."
            )
        if "startTime" in interval and _ts(interval["startTime"]) != end:
            return (
                f"Field {where}.points[0].interval.start_time: for GAUGE metrics the start "
                "time must equal the end time."
            )
        key = _series_key(ts)
        last = self._last_end.get(key)
        if last is not None and end < last + timedelta(seconds=LIMITS["gauge_min_step_seconds"]):
            return (
                f"One or more TimeSeries could not be written: Points must be written in order. "
                f"One or more of the points specified had an older start time than the most "
                f"recent point.: {where}"
            )
        return None

    @route("POST", r"/v3/projects/(?P<project>[^/]+)/timeSeries", rpc=RPC + "CreateTimeSeries")
    def create(self, req: Request) -> tuple[int, Any]:
        assert req.params["project"] == self.project
        body = req.json
        if len(body["timeSeries"]) > LIMITS["CreateTimeSeriesRequest.time_series.max"]:
            return self.refuse(
                req, 400, "The maximum number of TimeSeries per request is 200.", "INVALID_ARGUMENT"
            )
        for index, ts in enumerate(body["timeSeries"]):
            assert ts["metric"]["type"].startswith("custom.googleapis.com/"), ts
            assert ts["resource"] == {"type": "global", "labels": {"project_id": self.project}}
            if len(ts["points"]) != 1:
                return self.refuse(
                    req,
                    400,
                    f"Field timeSeries[{index}].points must contain exactly one point.",
                    "INVALID_ARGUMENT",
                )
            point = ts["points"][0]
            assert "endTime" in point["interval"] and "doubleValue" in point["value"], point
            for key in ts["metric"].get("labels", {}):
                assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key), key
            problem = self._window_problem(index, ts)
            if problem:
                return self.refuse(req, 400, problem, "INVALID_ARGUMENT")
        for ts in body["timeSeries"]:
            self._last_end[_series_key(ts)] = _ts(ts["points"][0]["interval"]["endTime"])
            self.series.append(ts)
        return 200, {}

    @route("GET", r"/v3/projects/(?P<project>[^/]+)/timeSeries", rpc=RPC + "ListTimeSeries")
    def list(self, req: Request) -> tuple[int, Any]:
        assert req.arg("view") == "FULL"
        start, end = (
            _ts(req.arg("interval.startTime") or ""),
            _ts(req.arg("interval.endTime") or ""),
        )
        wanted_type, wanted_labels = None, {}
        for clause in (req.arg("filter") or "").split(" AND "):
            match = _CLAUSE.match(clause.strip())
            if not match:
                return google_error(400, f"bad filter clause {clause!r}", "INVALID_ARGUMENT")
            if match.group(1) == "type":
                wanted_type = match.group(3)
            else:
                wanted_labels[match.group(2)] = match.group(3)
        assert wanted_type, "metric.type is required"
        grouped: dict[tuple[str, ...], dict[str, Any]] = {}
        for ts in self.series:
            labels = ts["metric"].get("labels", {})
            point = ts["points"][0]
            if ts["metric"]["type"] != wanted_type or any(
                labels.get(k) != v for k, v in wanted_labels.items()
            ):
                continue
            if not start < _ts(point["interval"]["endTime"]) <= end:  # (start, end]
                continue
            key = tuple(sorted(labels.items()))
            out = grouped.setdefault(
                key,
                {
                    "metric": ts["metric"],
                    "resource": ts["resource"],
                    "metricKind": "GAUGE",
                    "valueType": "DOUBLE",
                    "points": [],
                },
            )
            out["points"].insert(0, point)  # the API returns newest first
        found = list(grouped.values())
        index = int(req.arg("pageToken") or 0)
        answer: dict[str, Any] = {"timeSeries": found[index : index + 1]}
        if index + 1 < len(found):
            answer["nextPageToken"] = str(index + 1)
        return 200, answer


def _series_key(ts: dict[str, Any]) -> tuple[Any, ...]:
    metric, resource = ts["metric"], ts["resource"]
    return (
        metric["type"],
        tuple(sorted(metric.get("labels", {}).items())),
        resource["type"],
        tuple(sorted(resource.get("labels", {}).items())),
    )
