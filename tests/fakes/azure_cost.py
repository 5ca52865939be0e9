"""Fake Azure Cost Management: the Query usage API, answering in pages via nextLink.

POST /{scope}/providers/Microsoft.CostManagement/query?api-version=... with a
QueryDefinition body answers `properties.columns` / `properties.rows`; when more rows
remain, `properties.nextLink` points at the same URL with `$skiptoken`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fakes.azure_https import FakeAzureServer, Request, Response, error_body

COLUMNS = [
    {"name": "PreTaxCost", "type": "Number"},
    {"name": "UsageDate", "type": "Number"},
    {"name": "ServiceName", "type": "String"},
    {"name": "ResourceLocation", "type": "String"},
    {"name": "Currency", "type": "String"},
]


def install_cost(server: FakeAzureServer, rows: list[list[Any]], page_size: int) -> None:
    """Serve rows page by page at any scope's query endpoint."""

    @server.route(
        "POST",
        r"(?P<scope>/subscriptions/[^/]+(/resourceGroups/[^/]+)?)"
        r"/providers/Microsoft\.CostManagement/query",
    )
    def query(req: Request) -> Response:
        assert req.query.get("api-version"), "api-version missing"
        body = req.json()
        assert body["type"] in ("ActualCost", "Usage", "AmortizedCost"), body["type"]
        assert body["timeframe"] == "Custom"
        assert body["timePeriod"]["from"] < body["timePeriod"]["to"]
        dataset = body["dataset"]
        assert dataset["granularity"] == "Daily"
        names = [g["name"] for g in dataset["grouping"]]
        assert names[:2] == ["ServiceName", "ResourceLocation"], names
        if not req.match or "subscriptions/" not in req.path:
            return 404, {}, error_body("NotFound", "scope")
        skip = int(req.query.get("$skiptoken", "0"))
        page = rows[skip : skip + page_size]
        props: dict[str, Any] = {"columns": COLUMNS, "rows": page}
        if skip + page_size < len(rows):
            props["nextLink"] = (
                f"{server.url}{req.path}?api-version={req.query['api-version']}"
                f"&$skiptoken={skip + page_size}"
            )
        return (
            200,
            {},
            {
                "id": f"{req.match['scope']}/providers/Microsoft.CostManagement/query/q1",
                "name": "q1",
                "type": "Microsoft.CostManagement/query",
                "properties": props,
            },
        )


def sample_rows(days: int = 5) -> list[list[Any]]:
    """Rows in the documented shape: cost, UsageDate (yyyymmdd), service, region, currency."""
    services = [("Virtual Machines", "eastus"), ("Storage", "westeurope"), ("Bandwidth", "")]
    rows: list[list[Any]] = []
    for d in range(days):
        for i, (service, region) in enumerate(services):
            amount = Decimal("1.25") * (d + 1) + Decimal(i) / 100
            rows.append([float(amount), 20260101 + d, service, region, "USD"])
    return rows
