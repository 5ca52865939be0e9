"""AWS Cost Explorer as a CloudCost: GetCostAndUsage pages turned into CostRecords.

Every GetCostAndUsage request is billed (USD 0.01), so pages are followed only up to
`max_pages`; a result that needs more raises instead of silently returning part of it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.aws.adapter import AWSAdapter
from providers.base import CostRecord, check_cost_query
from providers.errors import ConfigurationError, CostAnalysisError
from providers.operation import cloud_operation

COST_METRICS = ("UnblendedCost", "AmortizedCost", "NetUnblendedCost")
#: our group names -> Cost Explorer dimensions ("tag:KEY" groups by a cost allocation tag)
DIMENSIONS = {"service": "SERVICE", "region": "REGION", "account": "LINKED_ACCOUNT"}
MAX_GROUPS = 2  # Cost Explorer accepts at most two GroupBy entries


def group_definitions(group_by: tuple[str, ...]) -> list[dict[str, str]]:
    """Cost Explorer GroupBy entries for our group names."""
    if len(group_by) > MAX_GROUPS:
        raise ConfigurationError(
            f"Cost Explorer groups by at most {MAX_GROUPS} keys, got {list(group_by)}",
            provider="aws",
            operation="get_costs",
            hint="Drop a group key, e.g. group by ('service', 'region')",
        )
    out = []
    for name in group_by:
        if name.startswith("tag:") and len(name) > 4:
            out.append({"Type": "TAG", "Key": name[4:]})
        elif name in DIMENSIONS:
            out.append({"Type": "DIMENSION", "Key": DIMENSIONS[name]})
        else:
            raise ConfigurationError(
                f"unknown cost group {name!r}",
                provider="aws",
                operation="get_costs",
                hint="Use service, region, account or tag:KEY",
            )
    return out


class CostExplorerCost(AWSAdapter):
    """Cost Explorer (a global service, reached through us-east-1)."""

    service_name = "ce"

    def __init__(
        self,
        client: Any,
        *,
        metric: str = "UnblendedCost",
        max_pages: int = 10,
        region: str = "us-east-1",
    ) -> None:
        if metric not in COST_METRICS:
            raise ConfigurationError(
                f"unknown cost metric {metric!r}",
                provider="aws",
                operation="configure",
                hint=f"Use one of {', '.join(COST_METRICS)}",
            )
        self.client = client
        self.metric = metric
        self.max_pages = max(1, max_pages)
        self.region = region
        #: paid GetCostAndUsage calls made by the last get_costs
        self.last_calls = 0

    @property
    def location(self) -> str:
        return "cost-explorer"

    @cloud_operation("get_costs", kind=CostAnalysisError, resource=None)
    def get_costs(
        self,
        start: date,
        end: date,
        granularity: str = "DAILY",
        group_by: tuple[str, ...] = ("service",),
    ) -> list[CostRecord]:
        """Costs over [start, end) per period and group, following NextPageToken."""
        granularity = check_cost_query("aws", start, end, granularity)
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": granularity,
            "Metrics": [self.metric],
        }
        groups = group_definitions(tuple(group_by))
        if groups:
            request["GroupBy"] = groups
        records: list[CostRecord] = []
        token: str | None = None
        self.last_calls = 0
        while True:
            if self.last_calls >= self.max_pages:
                raise CostAnalysisError(
                    f"more than {self.max_pages} pages of results ({self.last_calls} paid "
                    f"requests made) for {start} .. {end}",
                    provider="aws",
                    operation="get_costs",
                    hint="Narrow the date range, use MONTHLY granularity or fewer groups, "
                    "or raise max_pages (each request costs USD 0.01)",
                )
            page = self.client.get_cost_and_usage(
                **request, **({"NextPageToken": token} if token else {})
            )
            self.last_calls += 1
            records.extend(self._parse(page, tuple(group_by)))
            token = page.get("NextPageToken") or None
            if not token:
                break
        return records

    def _parse(self, page: dict[str, Any], group_by: tuple[str, ...]) -> list[CostRecord]:
        out: list[CostRecord] = []
        for period in page.get("ResultsByTime", []):
            span = period.get("TimePeriod", {})
            start = date.fromisoformat(span["Start"][:10])
            end = date.fromisoformat(span["End"][:10])
            estimated = bool(period.get("Estimated", False))
            rows: list[tuple[list[str], dict[str, Any]]] = [
                (list(g.get("Keys", [])), g.get("Metrics", {})) for g in period.get("Groups", [])
            ]
            if not rows and period.get("Total"):
                rows = [([], period["Total"])]
            for keys, metrics in rows:
                value = metrics.get(self.metric)
                if value is None:
                    continue
                labels = dict(zip(group_by, keys, strict=False))
                tags = {
                    name[4:]: labels[name].partition("$")[2]
                    for name in labels
                    if name.startswith("tag:")
                }
                out.append(
                    CostRecord(
                        provider="aws",
                        service=labels.get("service", "Total"),
                        period_start=start,
                        period_end=end,
                        amount=Decimal(str(value.get("Amount", "0"))),
                        currency=str(value.get("Unit", "USD")),
                        estimated=estimated,
                        region=labels.get("region"),
                        account=labels.get("account"),
                        tags=tags,
                        raw={"keys": keys, "metric": self.metric, "period": span},
                    )
                )
        return out
