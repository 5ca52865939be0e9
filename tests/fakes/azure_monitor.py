"""Fake Azure Monitor: the Logs Ingestion API and the Log Analytics query API.

- POST /dataCollectionRules/{rule}/streams/{stream}?api-version=... takes a gzip'd JSON
  array of records (the SDK compresses) and answers 204; records land in table
  `stream` minus its `Custom-` prefix.
- POST /v1/workspaces/{id}/query with {"query", "timespan": "start/end"} answers
  {"tables": [{"name": "PrimaryResult", "columns": [...], "rows": [...]}]}, the shape of
  the published example (oms-post-example.json); a body without `query` is refused.
Both routes name their operations (Upload, Query_Execute) in tests/contracts/azure.
The query side evaluates the small KQL subset the provider writes: `Table | where C == 'x'
| where C contains 'x' | where tostring(parse_json(C)['k']) == 'v' | project ... |
order by C asc|desc | take N`; anything else is answered 400 and recorded as an error.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.azure_https import FakeAzureServer, Request, Response

_LIT = r"'((?:[^'\\]|\\.)*)'"


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _timespan(value: str | None) -> tuple[datetime, datetime]:
    """An ISO 8601 interval: "start/end", or a duration back from now ("PT12H", as in the
    published example); none means everything."""
    now = datetime.now(UTC)
    if not value:
        return datetime.min.replace(tzinfo=UTC), now
    if "/" in value:
        start, end = value.split("/")
        return _when(start), _when(end)
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value)
    assert m, f"timespan {value!r} is not an ISO 8601 duration or interval"
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return now - timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds), now


class FakeMonitor:
    def __init__(self, server: FakeAzureServer, rule_id: str, workspace_id: str) -> None:
        self.server = server
        self.rule_id = rule_id
        self.workspace_id = workspace_id
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.queries: list[str] = []
        server.route(
            "POST", r"/dataCollectionRules/(?P<rule>[^/]+)/streams/(?P<stream>[^/]+)", "Upload"
        )(self.ingest)
        server.route("POST", r"/v1/workspaces/(?P<ws>[^/]+)/query", "Query_Execute")(self.query)

    def ingest(self, req: Request) -> Response:
        assert req.match is not None
        assert req.query.get("api-version"), "api-version missing"
        if req.match["rule"] != self.rule_id:
            return 404, {}, {"error": {"code": "NotFound", "message": "no such rule"}}
        assert req.headers.get("content-encoding") == "gzip", "the SDK sends gzip"
        records = json.loads(gzip.decompress(req.body))
        assert isinstance(records, list) and records
        for record in records:
            assert "TimeGenerated" in record, "TimeGenerated missing"
            _when(record["TimeGenerated"])
        table = req.match["stream"].removeprefix("Custom-")
        self.tables.setdefault(table, []).extend(records)
        return 204, {}, None

    def query(self, req: Request) -> Response:
        assert req.match is not None
        if req.match["ws"] != self.workspace_id:
            return 404, {}, {"error": {"code": "WorkspaceNotFoundError", "message": "no"}}
        body = req.json()
        if not isinstance(body, dict) or not body.get("query"):
            error = {"error": {"code": "BadArgumentError", "message": "The query is missing"}}
            self.server.refused.append((req, error))
            return 400, {}, error
        kql: str = body["query"]
        self.queries.append(kql)
        start, end = _timespan(body.get("timespan"))
        table, *ops = [p.strip() for p in kql.split(" | ")]
        rows = [r for r in self.tables.get(table, []) if start <= _when(r["TimeGenerated"]) < end]
        columns = sorted({k for r in rows for k in r}) or ["TimeGenerated"]
        for op in ops:
            if m := re.fullmatch(rf"where (\w+) == {_LIT}", op):
                rows = [r for r in rows if str(r.get(m[1])) == _unquote(m[2])]
            elif m := re.fullmatch(rf"where (\w+) contains {_LIT}", op):
                rows = [r for r in rows if _unquote(m[2]).lower() in str(r.get(m[1])).lower()]
            elif m := re.fullmatch(
                rf"where tostring\(parse_json\((\w+)\)\[{_LIT}\]\) == {_LIT}", op
            ):
                key, want = _unquote(m[2]), _unquote(m[3])
                rows = [r for r in rows if str(json.loads(r.get(m[1]) or "{}").get(key)) == want]
            elif m := re.fullmatch(r"project ([\w, ]+)", op):
                columns = [c.strip() for c in m[1].split(",")]
            elif m := re.fullmatch(r"order by (\w+) (asc|desc)", op):
                rows.sort(key=lambda r: str(r.get(m[1])), reverse=m[2] == "desc")
            elif m := re.fullmatch(r"take (\d+)", op):
                rows = rows[: int(m[1])]
            else:
                raise AssertionError(f"KQL this fake does not know: {op!r}")
        types = {"TimeGenerated": "datetime", "Value": "real"}
        return (
            200,
            {},
            {
                "tables": [
                    {
                        "name": "PrimaryResult",
                        "columns": [{"name": c, "type": types.get(c, "string")} for c in columns],
                        "rows": [[r.get(c) for c in columns] for r in rows],
                    }
                ]
            },
        )
