"""Azure Cost Management (azure-mgmt-costmanagement) as CloudCost.

One usage query per date range: daily cost for a scope (a subscription by default),
grouped by ServiceName and ResourceLocation, following `properties.nextLink` until the
last page. Rows become the project's CostRecords with Decimal amounts.

As the published contract (Query_Usage in azure-rest-api-specs, vendored under
tests/contracts/azure/costmanagement) has it: a query groups by at most 2 columns, its
granularity is Daily (months are summed here from the daily rows), grouping by a tag
answers the columns TagKey and TagValue, and `204 No Content` (on the first page or on
a nextLink page) means no rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, cast

from providers.azure.adapter import AzureAdapter, sdk_import_error
from providers.base import CostRecord, check_cost_query
from providers.errors import ConfigurationError, CostAnalysisError
from providers.operation import cloud_operation

try:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
    )
    from azure.core.rest import HttpRequest
    from azure.mgmt.costmanagement import CostManagementClient
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise sdk_import_error("azure-mgmt-costmanagement") from exc

#: the protocol's group_by names → Cost Management dimensions
GROUP_DIMENSIONS = {
    "service": "ServiceName",
    "region": "ResourceLocation",
    "resource_group": "ResourceGroupName",
    "meter": "MeterCategory",
}
_COST_COLUMNS = ("PreTaxCost", "Cost", "CostUSD", "PreTaxCostUSD")
_MAX_PAGES = 1000
#: QueryDataset.grouping: "Query can have up to 2 group by clauses."
MAX_GROUPINGS = 2


def groupings(group_by: Iterable[str]) -> list[dict[str, str]]:
    """The query's grouping clauses for the protocol's group_by names (at most 2).

    ServiceName is always one of them (every record names its service); with nothing else
    asked for, ResourceLocation is the second. `tag:KEY` groups by that tag.
    """
    wanted: list[dict[str, str]] = [{"type": "Dimension", "name": "ServiceName"}]
    for g in group_by:
        clause = (
            {"type": "TagKey", "name": g[4:]}
            if g.startswith("tag:")
            else {"type": "Dimension", "name": GROUP_DIMENSIONS.get(g, g)}
        )
        if clause not in wanted:
            wanted.append(clause)
    if len(wanted) == 1:
        wanted.append({"type": "Dimension", "name": "ResourceLocation"})
    if len(wanted) > MAX_GROUPINGS:
        asked = ", ".join(c["name"] for c in wanted[1:])
        raise ConfigurationError(
            f"Cost Management groups a query by at most {MAX_GROUPINGS} columns, and the "
            f"service is always one of them; got {len(wanted) - 1} more ({asked})",
            provider="azure",
            operation="get_costs",
            hint="Group by 'service' plus one of region, resource_group, meter or tag:KEY",
        )
    return wanted


def query_body(
    start: date, end: date, granularity: str, dimensions: tuple[str, ...], tags: tuple[str, ...]
) -> dict[str, Any]:
    """The documented Query usage body for [start, end) (Azure's end date is inclusive).

    The granularity is always Daily, the only value QueryDataset documents; `granularity`
    says how the caller wants the rows summed afterwards.
    """
    last = end - timedelta(days=1)
    grouping = [{"type": "Dimension", "name": d} for d in dimensions]
    grouping += [{"type": "TagKey", "name": t} for t in tags]
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{start.isoformat()}T00:00:00Z",
            "to": f"{last.isoformat()}T23:59:59Z",
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"}},
            "grouping": grouping,
        },
    }


def _period(value: Any, monthly: bool) -> tuple[date, date]:
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    day = (
        datetime.strptime(text, "%Y%m%d").date()
        if text.isdigit()
        else datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    )
    if not monthly:
        return day, day + timedelta(days=1)
    nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day, nxt


class AzureCostManagement(AzureAdapter):
    """Cost Management usage queries for one scope."""

    service_name: ClassVar[str] = "costmanagement"

    def __init__(
        self,
        credential: Any,
        scope: str,
        *,
        base_url: str | None = None,
        connection_verify: bool | str = True,
        sdk_retries: int = 2,
    ) -> None:
        if not scope.startswith("/"):
            raise ConfigurationError(
                f"cost scope {scope!r} is not a resource id",
                provider="azure",
                operation="cost",
                hint="Use /subscriptions/ID or /subscriptions/ID/resourceGroups/NAME",
            )
        self.scope = scope.rstrip("/")
        kwargs: dict[str, Any] = {
            "connection_verify": connection_verify,
            "retry_total": sdk_retries,
        }
        self.client = CostManagementClient(credential, base_url=base_url, **kwargs)

    @property
    def location(self) -> str:
        return self.scope

    def describe(self, resource: str | None) -> str:
        return f"scope {self.scope}"

    @cloud_operation("get_costs", kind=CostAnalysisError, resource=None)
    def get_costs(
        self,
        start: date,
        end: date,
        granularity: str = "DAILY",
        group_by: tuple[str, ...] = ("service",),
    ) -> list[CostRecord]:
        granularity = check_cost_query("azure", start, end, granularity)
        clauses = groupings(group_by)
        dims = tuple(c["name"] for c in clauses if c["type"] == "Dimension")
        tags = [c["name"] for c in clauses if c["type"] == "TagKey"]
        body = query_body(start, end, granularity, dims, tuple(tags))
        monthly = granularity.upper() == "MONTHLY"
        result = self.client.query.usage(self.scope, cast(Any, body))
        # 204 No Content ("Resource is not available"): the SDK answers None, i.e. no rows
        page = result.as_dict() if result is not None else {}
        records: list[CostRecord] = []
        for _ in range(_MAX_PAGES):
            props = page.get("properties") or {}
            records.extend(self._records(props, tags))
            next_link = props.get("nextLink")
            if not next_link:
                return _monthly(records) if monthly else records
            page = self._next_page(next_link, body)
        raise CostAnalysisError(
            f"more than {_MAX_PAGES} pages for {self.scope}",
            provider="azure",
            operation="get_costs",
            hint="Query a shorter date range",
        )

    def _next_page(self, link: str, body: Mapping[str, Any]) -> dict[str, Any]:
        # nextLink carries $skiptoken; the same query body is posted to it
        response = self.client.send_request(HttpRequest("POST", link, json=dict(body)))
        if response.status_code in (401, 403):
            raise ClientAuthenticationError(response=response)
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response)
        if response.status_code >= 400:
            raise HttpResponseError(response=response)
        if response.status_code == 204 or not response.content:
            return {}  # 204 No Content on a nextLink page: no more rows
        data: dict[str, Any] = response.json()
        return data

    def _records(self, props: Mapping[str, Any], tags: list[str]) -> list[CostRecord]:
        names = [c["name"] for c in props.get("columns") or []]
        if not names and not props.get("rows"):
            return []  # an empty answer (204, or 200 with nothing): no rows
        index = {n.lower(): i for i, n in enumerate(names)}
        cost_col = next((index[c.lower()] for c in _COST_COLUMNS if c.lower() in index), None)
        date_col = index.get("usagedate", index.get("billingmonth"))
        if cost_col is None or date_col is None:
            raise CostAnalysisError(
                f"unexpected columns {names} for {self.scope}",
                provider="azure",
                operation="get_costs",
                hint="The Cost Management API answered in a shape this version cannot read",
            )
        out = []
        for row in props.get("rows") or []:
            start, end = _period(row[date_col], False)

            def col(name: str, row: list[Any] = row) -> Any:
                i = index.get(name.lower())
                return row[i] if i is not None else None

            # a TagKey grouping answers TagKey and TagValue columns (empty when untagged)
            key, value = col("TagKey"), col("TagValue")
            row_tags = {str(key): str(value)} if tags and key and value not in (None, "") else {}

            out.append(
                CostRecord(
                    provider="azure",
                    service=str(col("ServiceName") or "unknown"),
                    period_start=start,
                    period_end=end,
                    amount=Decimal(str(row[cost_col])),
                    currency=str(col("Currency") or "USD"),
                    region=col("ResourceLocation") or None,
                    account=self.scope,
                    tags=row_tags,
                    raw=dict(zip(names, row, strict=False)),
                )
            )
        return out


def _monthly(records: list[CostRecord]) -> list[CostRecord]:
    """Daily records summed per calendar month (and service, region, currency, tags)."""
    months: dict[tuple[Any, ...], list[CostRecord]] = {}
    for rec in records:
        month = rec.period_start.replace(day=1)
        key = (month, rec.service, rec.region, rec.currency, tuple(sorted(rec.tags.items())))
        months.setdefault(key, []).append(rec)
    out = []
    for (month, *_), group in months.items():
        first = group[0]
        _, end = _period(month.strftime("%Y%m%d"), True)
        out.append(
            CostRecord(
                provider=first.provider,
                service=first.service,
                period_start=month,
                period_end=end,
                amount=sum((r.amount for r in group), Decimal(0)),
                currency=first.currency,
                region=first.region,
                account=first.account,
                tags=dict(first.tags),
                raw={"UsageMonth": month.strftime("%Y%m"), "days": len(group)},
            )
        )
    return out
