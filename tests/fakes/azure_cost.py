"""Fake Azure Cost Management: the Query_Usage operation, true to its published contract.

POST /{scope}/providers/Microsoft.CostManagement/query?api-version=... with a
QueryDefinition body. The fake holds usage items and evaluates the query over them: it sums
the aggregated cost per grouping value (and per day when granularity is Daily) and
answers in the shape of the published examples (tests/contracts/azure/costmanagement):
columns are the aggregated cost, then the grouping columns, then UsageDate (Daily only),
then Currency; a Dimension grouping answers a column of that name, a TagKey grouping
answers the columns TagKey and TagValue. When more rows remain, `properties.nextLink`
points at the same URL with `$skiptoken`.

It refuses what the contract refuses (constraints.json, from the swagger's definitions),
with the ARM error body: a missing type/timeframe/dataset, values outside the enums, a
Custom timeframe without timePeriod.from/to, more than 2 aggregations or 2 groupings.
`no_content_pages` lists the pages (0 = the first) answered with the documented
`204 No Content`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.contracts.spec import constraints, example_response
from tests.fakes.azure_https import FakeAzureServer, Request, Response, error_body

CONTRACT = constraints("azure/costmanagement")
EXAMPLE = "azure/costmanagement/examples/SubscriptionQuery.json"
#: what the examples answer besides the documented enum ("None": one row per group)
GRANULARITIES = {*CONTRACT["QueryDataset.granularity.enum"], "None"}
DIMENSIONS = {
    "ServiceName": "service",
    "ResourceLocation": "region",
    "ResourceGroupName": "resource_group",
    "ResourceGroup": "resource_group",
    "MeterCategory": "meter",
}
#: kept for tests that name the columns of an ungrouped daily answer
COLUMNS = [
    {"name": "PreTaxCost", "type": "Number"},
    {"name": "UsageDate", "type": "Number"},
    {"name": "ServiceName", "type": "String"},
    {"name": "ResourceLocation", "type": "String"},
    {"name": "Currency", "type": "String"},
]


@dataclass
class UsageItem:
    """One day of one resource's cost."""

    day: date
    service: str
    region: str
    cost: Decimal
    currency: str = "USD"
    tags: dict[str, str] = field(default_factory=dict)
    resource_group: str = "rg-specify"
    meter: str = "Compute"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def contract_problem(body: Any) -> str | None:
    """What in a QueryDefinition the published contract refuses, or None."""
    if not isinstance(body, dict):
        return "The request body must be a QueryDefinition object."
    for name in CONTRACT["QueryDefinition.required"]:
        if name not in body:
            return f"Missing required property '{name}' of QueryDefinition."
    if body["type"] not in CONTRACT["QueryDefinition.type.enum"]:
        return f"Invalid query type '{body['type']}'."
    if body["timeframe"] not in CONTRACT["QueryDefinition.timeframe.enum"]:
        return f"Invalid timeframe '{body['timeframe']}'."
    if body["timeframe"] == "Custom":
        period = body.get("timePeriod") or {}
        missing = [f for f in CONTRACT["QueryTimePeriod.required"] if f not in period]
        if missing:
            return f"A Custom timeframe needs timePeriod.{'/'.join(missing)}."
        if _when(period["from"]) > _when(period["to"]):
            return "timePeriod.from must not be after timePeriod.to."
    dataset = body["dataset"]
    granularity = dataset.get("granularity")
    if granularity is not None and granularity not in GRANULARITIES:
        return f"Invalid granularity '{granularity}'; allowed: {sorted(GRANULARITIES)}."
    aggregation = dataset.get("aggregation") or {}
    if len(aggregation) > CONTRACT["QueryDataset.aggregation.maxItems"]:
        return "Query can have up to 2 aggregation clauses."
    for alias, agg in aggregation.items():
        if set(CONTRACT["QueryAggregation.required"]) - set(agg):
            return f"Aggregation '{alias}' needs name and function."
        if agg["function"] not in CONTRACT["QueryAggregation.function.enum"]:
            return f"Invalid aggregation function '{agg['function']}'."
    grouping = dataset.get("grouping") or []
    if len(grouping) > CONTRACT["QueryDataset.grouping.maxItems"]:
        return CONTRACT["QueryDataset.grouping.description"]
    for group in grouping:
        if set(CONTRACT["QueryGrouping.required"]) - set(group):
            return "Each grouping needs type and name."
        if group["type"] not in CONTRACT["QueryColumnType.enum"]:
            return f"Invalid grouping type '{group['type']}'."
    return None


class FakeCostManagement:
    """Usage items of one subscription, queried at subscription or resource group scope."""

    def __init__(
        self,
        server: FakeAzureServer,
        items: list[UsageItem],
        page_size: int = 1000,
        no_content_pages: set[int] | None = None,
    ) -> None:
        self.server = server
        self.items = items
        self.page_size = page_size
        self.no_content_pages = no_content_pages or set()
        self.bodies: list[dict[str, Any]] = []
        server.route(
            "POST",
            r"(?P<scope>/subscriptions/[^/]+(/resourceGroups/[^/]+)?)"
            r"/providers/Microsoft\.CostManagement/query",
            op="Query_Usage",
        )(self.query)

    def _columns(self, dataset: dict[str, Any]) -> list[dict[str, str]]:
        aggregation = dataset.get("aggregation") or {}
        cost = next(iter(aggregation.values()), {"name": "PreTaxCost"})["name"]
        columns = [{"name": cost, "type": "Number"}]
        for group in dataset.get("grouping") or []:
            if group["type"] == "TagKey":
                columns += [
                    {"name": "TagKey", "type": "String"},
                    {"name": "TagValue", "type": "String"},
                ]
            else:
                columns.append({"name": group["name"], "type": "String"})
        if dataset.get("granularity") == "Daily":
            columns.append({"name": "UsageDate", "type": "Number"})
        columns.append({"name": "Currency", "type": "String"})
        return columns

    def _rows(self, body: dict[str, Any], scope: str) -> list[list[Any]]:
        dataset = body["dataset"]
        period = body.get("timePeriod") or {}
        start = _when(period["from"]).date() if period else date.min
        last = _when(period["to"]).date() if period else date.max
        group_rg = "/resourceGroups/" in scope
        sums: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        for item in self.items:
            if not start <= item.day <= last:
                continue
            if group_rg and item.resource_group.lower() != scope.rsplit("/", 1)[-1].lower():
                continue
            key: list[Any] = []
            for group in dataset.get("grouping") or []:
                if group["type"] == "TagKey":
                    value = item.tags.get(group["name"])
                    key += [group["name"], value] if value is not None else ["", ""]
                else:
                    key.append(getattr(item, DIMENSIONS[group["name"]]))
            if dataset.get("granularity") == "Daily":
                key.append(int(item.day.strftime("%Y%m%d")))
            key.append(item.currency)
            sums[tuple(key)] += item.cost
        return [[float(total), *key] for key, total in sums.items()]  # in the items order

    def query(self, req: Request) -> Response:
        assert req.match is not None
        body = req.json()
        self.bodies.append(body)
        problem = contract_problem(body)
        if problem:
            error = error_body("BadRequest", problem)
            self.server.refused.append((req, error))
            return 400, {}, error
        skip = int(req.query.get("$skiptoken", "0"))
        if skip // self.page_size in self.no_content_pages:
            return 204, {}, None
        rows = self._rows(body, req.match["scope"])
        answer = example_response(EXAMPLE)  # the documented envelope: id, name, type
        answer["id"] = f"{req.match['scope']}/providers/Microsoft.CostManagement/query/q1"
        answer["name"] = "q1"
        props = answer["properties"]
        props["columns"] = self._columns(body["dataset"])
        props["rows"] = rows[skip : skip + self.page_size]
        props["nextLink"] = None
        if skip + self.page_size < len(rows):
            props["nextLink"] = (
                f"{self.server.url}{req.path}?api-version={req.query['api-version']}"
                f"&$skiptoken={skip + self.page_size}"
            )
        return 200, {}, answer


def install_cost(
    server: FakeAzureServer,
    rows: list[list[Any]],
    page_size: int,
    no_content_pages: set[int] | None = None,
) -> FakeCostManagement:
    """Serve rows given as [cost, yyyymmdd, service, region, currency] (sample_rows)."""
    items = [
        UsageItem(
            day=datetime.strptime(str(day), "%Y%m%d").date(),
            service=service,
            region=region,
            cost=Decimal(str(cost)),
            currency=currency,
        )
        for cost, day, service, region, currency in rows
    ]
    return FakeCostManagement(server, items, page_size, no_content_pages)


def sample_rows(days: int = 5) -> list[list[Any]]:
    """Rows in the documented shape: cost, UsageDate (yyyymmdd), service, region, currency."""
    services = [("Virtual Machines", "eastus"), ("Storage", "westeurope"), ("Bandwidth", "")]
    rows: list[list[Any]] = []
    for d in range(days):
        for i, (service, region) in enumerate(services):
            amount = Decimal("1.25") * (d + 1) + Decimal(i) / 100
            day = date(2026, 1, 1) + timedelta(days=d)
            rows.append([float(amount), int(day.strftime("%Y%m%d")), service, region, "USD"])
    return rows
