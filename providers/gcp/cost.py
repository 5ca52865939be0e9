"""Cost from the Cloud Billing export to BigQuery (the standard usage cost table).

Net cost is `cost` plus the sum of `credits.amount` (credits are negative), summed as
NUMERIC in BigQuery so the client returns exact Decimals, grouped by service, day (or
month), region, currency and invoice month. Result pages are followed to the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from providers.base import CostRecord, check_cost_query
from providers.errors import ConfigurationError, CostAnalysisError
from providers.gcp.common import GCPService, require
from providers.operation import cloud_operation

_IDENT = re.compile(r"^[A-Za-z0-9_\-]{1,1024}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9\-.:]{4,61}[a-z0-9]$")

QUERY = """
SELECT
  service.description AS service,
  {period} AS period,
  location.region AS region,
  currency,
  invoice.month AS invoice_month,
  SUM(CAST(cost AS NUMERIC)) AS cost,
  SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0))
    AS credits
FROM `{table}`
WHERE usage_start_time >= @start AND usage_start_time < @end
GROUP BY service, period, region, currency, invoice_month
ORDER BY period, service, region, currency
"""


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


class BigQueryBillingCost(GCPService):
    """Billed cost from `project.dataset.gcp_billing_export_v1_<ACCOUNT>`."""

    service_name = "billing"

    def __init__(
        self,
        project: str,
        *,
        dataset: str,
        table: str,
        billing_project: str | None = None,
        credentials: Any = None,
        client_options: Any = None,
        page_size: int = 1000,
        client: Any = None,
    ) -> None:
        super().__init__(project)
        table_project = billing_project or project
        for label, value, rule in (
            ("project", table_project, _PROJECT),
            ("dataset", dataset, _IDENT),
            ("table", table, _IDENT),
        ):
            # names go into the SQL text (BigQuery cannot bind table names): allow only
            # the characters BigQuery itself allows
            if not rule.match(value):
                raise ConfigurationError(
                    f"'{value}' is not a valid BigQuery {label} name",
                    provider=self.provider_name,
                    operation="configure",
                    hint="Use the billing export's project, dataset and table names",
                )
        self.table = f"{table_project}.{dataset}.{table}"
        self.page_size = page_size
        if client is None:
            bigquery = require("google.cloud.bigquery", "google-cloud-bigquery")
            client = bigquery.Client(
                project=project, credentials=credentials, client_options=client_options
            )
        self.client = client

    def where(self) -> dict[str, Any]:
        return {"project": self.project, "table": self.table}

    @cloud_operation("get_costs", kind=CostAnalysisError, resource=None)
    def get_costs(
        self,
        start: date,
        end: date,
        granularity: str = "DAILY",
        group_by: tuple[str, ...] = ("service",),
    ) -> list[CostRecord]:
        """Net cost per service, period, region, currency in [start, end)."""
        granularity = check_cost_query(self.provider_name, start, end, granularity)
        bigquery = require("google.cloud.bigquery", "google-cloud-bigquery")
        period = (
            "DATE(usage_start_time)"
            if granularity == "DAILY"
            else "DATE_TRUNC(DATE(usage_start_time), MONTH)"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(
                    "start", "TIMESTAMP", datetime.combine(start, time.min, UTC)
                ),
                bigquery.ScalarQueryParameter(
                    "end", "TIMESTAMP", datetime.combine(end, time.min, UTC)
                ),
            ]
        )
        job = self.client.query(
            QUERY.format(period=period, table=self.table),
            job_config=config,
            retry=None,
            job_retry=None,
        )
        rows = job.result(page_size=self.page_size, retry=None)
        return list(self._records(rows, granularity))

    def _records(self, rows: Iterable[Any], granularity: str) -> Iterable[CostRecord]:
        for row in rows:
            period: date = row["period"]
            if isinstance(period, datetime):
                period = period.date()
            cost = Decimal(row["cost"] or 0)
            credits = Decimal(row["credits"] or 0)
            end = period + timedelta(days=1) if granularity == "DAILY" else _next_month(period)
            yield CostRecord(
                provider=self.provider_name,
                service=row["service"] or "Unknown",
                period_start=period,
                period_end=end,
                amount=cost + credits,
                currency=row["currency"],
                region=row["region"] or None,
                account=self.project,
                tags={"invoice_month": row["invoice_month"]} if row["invoice_month"] else {},
                raw={"cost": cost, "credits": credits, "invoice_month": row["invoice_month"]},
            )
