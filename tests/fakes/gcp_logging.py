"""A fake Cloud Logging API v2: entries.write and entries.list.

entries.list understands the filter the provider builds (timestamp bounds, logName) and
one free clause of the form `(jsonPayload.KEY = "VALUE")` or `(severity >= LEVEL)`, orders
by timestamp and pages by `pageSize` with nextPageToken.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

LEVELS = [
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeLogging(FakeGoogleAPI):
    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project
        self.entries: list[dict[str, Any]] = []

    @route("POST", r"/v2/entries:write")
    def write(self, req: Request) -> tuple[int, Any]:
        entries = req.json["entries"]
        assert 0 < len(entries) <= 1000, len(entries)
        for e in entries:
            assert e["logName"].startswith(f"projects/{self.project}/logs/"), e["logName"]
            assert "/" not in e["logName"].split("/logs/", 1)[1], "log id must be URL-encoded"
            assert e["resource"]["type"] == "global"
            assert e["severity"] in LEVELS, e["severity"]
            assert "message" in e["jsonPayload"], e
            self.entries.append(e)
        return 200, {}

    def _keep(self, entry: dict[str, Any], clause: str) -> bool:
        clause = clause.strip()
        if m := re.fullmatch(r'timestamp (>=|<) "([^"]+)"', clause):
            at, bound = _ts(entry["timestamp"]), _ts(m.group(2))
            return at >= bound if m.group(1) == ">=" else at < bound
        if m := re.fullmatch(r'logName = "([^"]+)"', clause):
            return bool(entry["logName"] == m.group(1))
        if m := re.fullmatch(r'\(jsonPayload\.(\w+) = "([^"]*)"\)', clause):
            return bool(entry["jsonPayload"].get(m.group(1)) == m.group(2))
        if m := re.fullmatch(r"\(severity >= (\w+)\)", clause):
            return LEVELS.index(entry["severity"]) >= LEVELS.index(m.group(1))
        raise ValueError(clause)

    @route("POST", r"/v2/entries:list")
    def list(self, req: Request) -> tuple[int, Any]:
        body = req.json
        assert body["resourceNames"] == [f"projects/{self.project}"], body
        assert body.get("orderBy") == "timestamp asc", body
        clauses = body["filter"].split(" AND ")
        try:
            found = [e for e in self.entries if all(self._keep(e, c) for c in clauses)]
        except ValueError as exc:
            return google_error(400, f"unsupported filter clause {exc}", "INVALID_ARGUMENT")
        found.sort(key=lambda e: _ts(e["timestamp"]))
        size = int(body.get("pageSize") or 50)
        start = int(body.get("pageToken") or 0)
        answer: dict[str, Any] = {"entries": found[start : start + size]}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return 200, answer
