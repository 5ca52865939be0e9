"""A fake Cloud Monitoring API v3: timeSeries.create and timeSeries.list.

Stored points are filtered like the service does for the clauses the provider sends
(`metric.type = "..."` and `metric.labels.KEY = "..."` joined by AND) and by the interval;
lists are served one series per page to exercise nextPageToken.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

_CLAUSE = re.compile(r'^metric\.(type|labels\.([A-Za-z0-9_]+)) = "((?:[^"\\]|\\.)*)"$')


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeMonitoring(FakeGoogleAPI):
    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project
        self.series: list[dict[str, Any]] = []  # one entry per written point

    @route("POST", r"/v3/projects/(?P<project>[^/]+)/timeSeries")
    def create(self, req: Request) -> tuple[int, Any]:
        assert req.params["project"] == self.project
        body = req.json
        assert 0 < len(body["timeSeries"]) <= 200
        for ts in body["timeSeries"]:
            assert ts["metric"]["type"].startswith("custom.googleapis.com/"), ts
            assert ts["resource"] == {"type": "global", "labels": {"project_id": self.project}}
            (point,) = ts["points"]  # the API takes exactly one point per series
            assert "endTime" in point["interval"] and "doubleValue" in point["value"], point
            for key in ts["metric"].get("labels", {}):
                assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key), key
            self.series.append(ts)
        return 200, {}

    @route("GET", r"/v3/projects/(?P<project>[^/]+)/timeSeries")
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
            if not start <= _ts(point["interval"]["endTime"]) <= end:
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
