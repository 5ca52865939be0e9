"""Azure Cost Management (azure-mgmt-costmanagement) as CloudCost.

One usage query per date range: daily cost for a scope (a subscription by default),
grouped by ServiceName and ResourceLocation, following `properties.nextLink` until the
last page. Rows become the project's CostRecords with Decimal amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def query_body(
    start: date, end: date, granularity: str, dimensions: tuple[str, ...], tags: tuple[str, ...]
) -> dict[str, Any]:
    """The documented Query usage body for [start, end) (Azure's end date is inclusive)."""
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
            "granularity": "Monthly" if granularity.upper() == "MONTHLY" else "Daily",
            "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"}},
            "grouping": grouping,
        },
    }


def _period(value: Any, monthly: bool) -> tuple[date, date]:
    text = str(value)
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
        dims = ["ServiceName", "ResourceLocation"]
        tags: list[str] = []
        for g in group_by:
            if g.startswith("tag:"):
                tags.append(g[4:])
            elif GROUP_DIMENSIONS.get(g, g) not in dims:
                dims.append(GROUP_DIMENSIONS.get(g, g))
        body = query_body(start, end, granularity, tuple(dims), tuple(tags))
        monthly = body["dataset"]["granularity"] == "Monthly"
        result = self.client.query.usage(self.scope, cast(Any, body))
        page = result.as_dict() if result is not None else {}
        records: list[CostRecord] = []
        for _ in range(_MAX_PAGES):
            props = page.get("properties") or {}
            records.extend(self._records(props, monthly, tags))
            next_link = props.get("nextLink")
            if not next_link:
                return records
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
        data: dict[str, Any] = response.json()
        return data

    def _records(
        self, props: Mapping[str, Any], monthly: bool, tags: list[str]
    ) -> list[CostRecord]:
        names = [c["name"] for c in props.get("columns") or []]
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
            start, end = _period(row[date_col], monthly)

            def col(name: str, row: list[Any] = row) -> Any:
                i = index.get(name.lower())
                return row[i] if i is not None else None

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
                    tags={t: str(col(t)) for t in tags if col(t) not in (None, "")},
                    raw=dict(zip(names, row, strict=False)),
                )
            )
        return out
