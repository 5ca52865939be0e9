"""A fake Cloud Logging API v2: entries.write and entries.list.

entries.list understands the filter the provider builds (timestamp bounds, logName) and
one free clause of the form `(jsonPayload.KEY = "VALUE")` or `(severity >= LEVEL)`, orders
by timestamp and pages by `pageSize` with nextPageToken. As the contract says
(WriteLogEntriesRequest.entries in google/logging/v2/logging.proto), a request carries at
most 1000 entries, and entries older than the logs retention period (30 days for the
_Default bucket, on the quotas page the proto links) or more than 24 hours in the future
are kept but never listed; a pageSize above 1000 is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

RPC = "google.logging.v2.LoggingServiceV2."
RETENTION = timedelta(days=30)
AHEAD = timedelta(hours=24)
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
    def __init__(self, project: str, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.project = project
        self.now = now or (lambda: datetime.now(UTC))
        self.entries: list[dict[str, Any]] = []

    @route("POST", r"/v2/entries:write", rpc=RPC + "WriteLogEntries")
    def write(self, req: Request) -> tuple[int, Any]:
        entries = req.json["entries"]
        if len(entries) > 1000:
            return self.refuse(
                req, 400, "Request contains more than 1000 entries", "INVALID_ARGUMENT"
            )
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

    @route("POST", r"/v2/entries:list", rpc=RPC + "ListLogEntries")
    def list(self, req: Request) -> tuple[int, Any]:
        body = req.json
        if int(body.get("pageSize") or 0) > 1000:
            return self.refuse(req, 400, "pageSize must not exceed 1000", "INVALID_ARGUMENT")
        now = self.now()
        visible = [e for e in self.entries if now - RETENTION <= _ts(e["timestamp"]) <= now + AHEAD]
        assert body["resourceNames"] == [f"projects/{self.project}"], body
        assert body.get("orderBy") == "timestamp asc", body
        clauses = body["filter"].split(" AND ")
        try:
            found = [e for e in visible if all(self._keep(e, c) for c in clauses)]
        except ValueError as exc:
            return google_error(400, f"unsupported filter clause {exc}", "INVALID_ARGUMENT")
        found.sort(key=lambda e: _ts(e["timestamp"]))
        size = int(body.get("pageSize") or 50)
        start = int(body.get("pageToken") or 0)
        answer: dict[str, Any] = {"entries": found[start : start + size]}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return 200, answer
