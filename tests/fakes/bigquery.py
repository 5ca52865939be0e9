"""A fake BigQuery REST API (v2) that answers the billing-export query.

It holds billing line items shaped like rows of the standard usage cost export
(service.description, usage_start_time, location.region, currency, invoice.month, cost,
credits[].amount). `jobs.insert` checks the SQL and the named TIMESTAMP parameters the
client sends, filters the items by them and groups them as the query does; the results
are served by `jobs.getQueryResults` in pages of `page_rows` rows linked by pageToken.
As GetQueryResultsRequest.timeout_ms in the vendored job.proto says, a query that has not
finished answers `jobComplete: false` (and no rows) and the caller asks again:
`incomplete_polls` says how many answers are incomplete before the rows come.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

RPC = "google.cloud.bigquery.v2.JobService."

SCHEMA = {
    "fields": [
        {"name": "service", "type": "STRING", "mode": "NULLABLE"},
        {"name": "period", "type": "DATE", "mode": "NULLABLE"},
        {"name": "region", "type": "STRING", "mode": "NULLABLE"},
        {"name": "currency", "type": "STRING", "mode": "NULLABLE"},
        {"name": "invoice_month", "type": "STRING", "mode": "NULLABLE"},
        {"name": "cost", "type": "NUMERIC", "mode": "NULLABLE"},
        {"name": "credits", "type": "NUMERIC", "mode": "NULLABLE"},
    ]
}


@dataclass
class LineItem:
    """One row of the billing export."""

    service: str
    usage_start: datetime
    region: str | None
    currency: str
    cost: Decimal
    credits: list[Decimal] = field(default_factory=list)

    @property
    def invoice_month(self) -> str:
        return self.usage_start.strftime("%Y%m")


class FakeBigQuery(FakeGoogleAPI):
    def __init__(
        self,
        project: str,
        table: str,
        items: list[LineItem],
        page_rows: int,
        incomplete_polls: int = 0,
    ) -> None:
        super().__init__()
        self.incomplete_polls = incomplete_polls
        self.project = project
        self.table = table
        self.items = items
        self.page_rows = page_rows
        self.results: dict[str, list[list[Any]]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}

    def _params(self, query: dict[str, Any]) -> dict[str, datetime]:
        assert query.get("useLegacySql") is False, "standard SQL expected"
        assert query.get("parameterMode") == "NAMED"
        out = {}
        for param in query["queryParameters"]:
            assert param["parameterType"]["type"] == "TIMESTAMP", param
            text = param["parameterValue"]["value"]
            out[param["name"]] = datetime.fromisoformat(text.replace(" ", "T")).astimezone(UTC)
        assert set(out) == {"start", "end"}, out
        return out

    def _run(self, sql: str, params: dict[str, datetime]) -> list[list[Any]]:
        assert f"FROM `{self.table}`" in sql, sql
        assert "UNNEST(credits)" in sql and "usage_start_time >= @start" in sql, sql
        assert "usage_start_time < @end" in sql, sql
        monthly = "DATE_TRUNC" in sql
        groups: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for item in self.items:
            if not params["start"] <= item.usage_start < params["end"]:
                continue
            day = item.usage_start.date()
            period = day.replace(day=1) if monthly else day
            key = (item.service, period.isoformat(), item.region, item.currency, item.invoice_month)
            groups[key][0] += item.cost
            groups[key][1] += sum(item.credits, Decimal(0))
        return [[*key, str(c), str(cr)] for key, (c, cr) in sorted(groups.items(), key=str)]

    @route("POST", r"/bigquery/v2/projects/(?P<project>[^/]+)/jobs", rpc=RPC + "InsertJob")
    def insert_job(self, req: Request) -> tuple[int, Any]:
        assert req.params["project"] == self.project
        body = req.json
        query = body["configuration"]["query"]
        rows = self._run(query["query"], self._params(query))
        job_id = body.get("jobReference", {}).get("jobId") or uuid.uuid4().hex
        self.results[job_id] = rows
        job = {
            "kind": "bigquery#job",
            "id": f"{self.project}:US.{job_id}",
            "jobReference": {"projectId": self.project, "jobId": job_id, "location": "US"},
            "configuration": body["configuration"],
            "status": {"state": "RUNNING" if self.incomplete_polls else "DONE"},
            "statistics": {"creationTime": "1700000000000", "query": {"statementType": "SELECT"}},
        }
        self.jobs[job_id] = job
        return 200, job

    @route(
        "GET", r"/bigquery/v2/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/]+)", rpc=RPC + "GetJob"
    )
    def get_job(self, req: Request) -> tuple[int, Any]:
        job = self.jobs.get(req.params["job"])
        return (200, job) if job else google_error(404, "Not found: Job", "NOT_FOUND")

    @route(
        "GET",
        r"/bigquery/v2/projects/(?P<project>[^/]+)/queries/(?P<job>[^/]+)",
        rpc=RPC + "GetQueryResults",
    )
    def get_query_results(self, req: Request) -> tuple[int, Any]:
        rows = self.results.get(req.params["job"])
        if rows is None:
            return google_error(404, "Not found: Job", "NOT_FOUND")
        reference = {"projectId": self.project, "jobId": req.params["job"], "location": "US"}
        if self.incomplete_polls > 0:
            self.incomplete_polls -= 1
            if not self.incomplete_polls:  # done after this answer
                self.jobs[req.params["job"]]["status"] = {"state": "DONE"}
            return 200, {
                "kind": "bigquery#getQueryResultsResponse",
                "jobReference": reference,
                "jobComplete": False,
            }
        start = int(req.arg("pageToken") or 0)
        asked = req.arg("maxResults")
        size = self.page_rows if asked is None else min(int(asked), self.page_rows)
        page = rows[start : start + size]
        answer: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": {
                "projectId": self.project,
                "jobId": req.params["job"],
                "location": "US",
            },
            "jobComplete": True,
            "schema": SCHEMA,
            "totalRows": str(len(rows)),
            "rows": [{"f": [{"v": v} for v in row]} for row in page],
        }
        if size and start + size < len(rows):
            answer["pageToken"] = str(start + size)
        return 200, answer
