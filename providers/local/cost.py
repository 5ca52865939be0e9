"""Cost from FOCUS-shaped billing files (CSV or parquet) in one directory.

A small reader: each row's BilledCost counts on the UTC day of its ChargePeriodStart, and
rows are summed (exactly, as Decimal) per period, ProviderName, currency and the asked
groups. The full FOCUS normaliser and analyzer live elsewhere; this only feeds them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from providers.base import CostRecord, check_cost_query
from providers.errors import (
    CloudError,
    ConfigurationError,
    CostAnalysisError,
    NotFoundError,
    sdk_missing,
)
from providers.operation import ServiceAdapter, cloud_operation, map_generic_error

REQUIRED = (
    "ProviderName",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ServiceName",
    "RegionId",
    "BilledCost",
    "BillingCurrency",
)
# group_by names -> the FOCUS column
GROUPS = {"service": "ServiceName", "region": "RegionId", "account": "SubAccountId"}


class _BadRow(Exception):
    def __init__(self, column: str, why: str) -> None:
        self.column, self.why = column, why


def _timestamp(value: object, column: str) -> datetime:
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day)
    else:
        try:
            ts = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise _BadRow(column, f"{str(value)[:40]!r} is not an ISO 8601 date-time") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _amount(value: object) -> Decimal:
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # the shortest text that round-trips, not binary noise
    else:
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise _BadRow("BilledCost", f"{str(value)[:40]!r} is not a number") from None
    if not amount.is_finite():
        raise _BadRow("BilledCost", f"{value!r} is not a finite amount")
    return amount


def _text(row: dict[str, Any], column: str, required: bool = True) -> str | None:
    value = row.get(column)
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise _BadRow(column, "the value is empty")
        return None
    return text


def _tags(value: object) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        parsed: object = value
    else:
        try:
            parsed = json.loads(str(value))
        except ValueError:
            raise _BadRow("Tags", "not a JSON object") from None
    if not isinstance(parsed, dict):
        raise _BadRow("Tags", "not a JSON object")
    return {str(k): str(v) for k, v in parsed.items()}


def _period(day: date, granularity: str) -> tuple[date, date]:
    if granularity == "DAILY":
        return day, day + timedelta(days=1)
    first = day.replace(day=1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, nxt


class FocusFileCost(ServiceAdapter):
    """CloudCost over the *.csv and *.parquet FOCUS files under billing_dir."""

    provider_name = "local"
    service_name = "cost"

    def __init__(self, billing_dir: Path | str) -> None:
        self.billing_dir = Path(billing_dir).expanduser().resolve()

    @property
    def location(self) -> str:
        return str(self.billing_dir)

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        return map_generic_error(
            exc, provider="local", operation=operation, resource=resource, kind=kind
        )

    def files(self) -> list[Path]:
        if not self.billing_dir.is_dir():
            raise NotFoundError(
                f"{self.billing_dir} does not exist",
                provider="local",
                operation="get_costs",
                hint="Put FOCUS billing exports (CSV or parquet) in that directory",
            )
        return sorted(
            p
            for p in self.billing_dir.rglob("*")
            if p.is_file() and p.suffix.lower() in (".csv", ".parquet")
        )

    def _rows(self, path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        """(row label, row) for each data row; the label names the row in error messages."""
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                self._check_columns(path, reader.fieldnames or [])
                for n, row in enumerate(reader, start=1):
                    yield f"row {n} (line {reader.line_num})", row
            return
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is a core dependency
            raise sdk_missing("local", "pyarrow", "local") from None
        table = pq.read_table(path)
        self._check_columns(path, table.column_names)
        for n, row in enumerate(table.to_pylist(), start=1):
            yield f"row {n}", row

    @staticmethod
    def _check_columns(path: Path, columns: Sequence[str]) -> None:
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise CostAnalysisError(
                f"{path.name} has no column {', '.join(missing)}",
                provider="local",
                operation="get_costs",
                resource=str(path),
                hint=f"FOCUS billing files need the columns {', '.join(REQUIRED)}",
            )

    @cloud_operation("get_costs", kind=CostAnalysisError, resource=None)
    def get_costs(
        self,
        start: date,
        end: date,
        granularity: str = "DAILY",
        group_by: tuple[str, ...] = ("service",),
    ) -> list[CostRecord]:
        """Summed BilledCost per period and group for charges starting in [start, end)."""
        granularity = check_cost_query("local", start, end, granularity)
        unknown = [g for g in group_by if g not in GROUPS]
        if unknown:
            raise ConfigurationError(
                f"cannot group by {', '.join(unknown)}",
                operation="get_costs",
                hint=f"Group by any of {', '.join(GROUPS)}",
            )
        # key: (period start, period end, provider, currency, group values)
        Key = tuple[date, date, str, str, tuple[str | None, ...]]
        totals: dict[Key, Decimal] = {}
        tags: dict[Key, dict[str, str]] = {}
        rows_in: dict[Key, int] = {}
        for path in self.files():
            for label, row in self._rows(path):
                try:
                    day = _timestamp(row.get("ChargePeriodStart"), "ChargePeriodStart").date()
                    _timestamp(row.get("ChargePeriodEnd"), "ChargePeriodEnd")
                    amount = _amount(row.get("BilledCost"))
                    provider = str(_text(row, "ProviderName"))
                    currency = str(_text(row, "BillingCurrency"))
                    groups = {g: _text(row, GROUPS[g], required=False) for g in group_by}
                    if "service" in groups and groups["service"] is None:
                        raise _BadRow("ServiceName", "the value is empty")
                    row_tags = _tags(row.get("Tags"))
                except _BadRow as bad:
                    raise CostAnalysisError(
                        f"{path.name} {label}, column {bad.column}: {bad.why}",
                        provider="local",
                        operation="get_costs",
                        resource=str(path),
                        hint="Fix or remove that row of the billing file",
                    ) from None
                if not start <= day < end:
                    continue
                key: Key = (
                    *_period(day, granularity),
                    provider,
                    currency,
                    tuple(groups[g] for g in group_by),
                )
                totals[key] = totals.get(key, Decimal(0)) + amount
                rows_in[key] = rows_in.get(key, 0) + 1
                # a group keeps the tags that all its rows share
                tags[key] = (
                    row_tags
                    if key not in tags
                    else {k: v for k, v in tags[key].items() if row_tags.get(k) == v}
                )
        records = []
        for key, amount in totals.items():
            p_start, p_end, provider, currency, values = key
            groups = dict(zip(group_by, values, strict=True))
            records.append(
                CostRecord(
                    provider=str(provider),
                    service=groups.get("service") or "(all services)",
                    period_start=p_start,
                    period_end=p_end,
                    amount=amount,
                    currency=str(currency),
                    region=groups.get("region"),
                    account=groups.get("account"),
                    tags=tags[key],
                    raw={"rows": rows_in[key], "granularity": granularity},
                )
            )
        return sorted(
            records,
            key=lambda r: (r.period_start, r.provider, r.service, r.region or "", r.account or ""),
        )
