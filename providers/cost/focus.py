"""FinOps FOCUS 1.x: the columns every cost source is normalised to, and their types.

Money columns are DECIMAL(18,9): exact sums (DuckDB sums them into DECIMAL(38,9)), nine
decimals keep AWS's sub-micro line amounts, and 10^9 per line is more than any one charge.
Quantities are DOUBLE: they are not money and can exceed 10^9 (requests, bytes).
Columns prefixed `x_` are FOCUS custom columns (allowed by the spec) kept for traceability.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from importlib import resources

FOCUS_VERSION = "1.1"
MONEY_SQL = "DECIMAL(18,9)"
MONEY_SCALE = 9

#: FOCUS columns (and custom x_ columns) in output order, with their DuckDB types
COLUMNS: dict[str, str] = {
    "ProviderName": "VARCHAR",
    "BillingAccountId": "VARCHAR",
    "SubAccountId": "VARCHAR",
    "BillingPeriodStart": "TIMESTAMP",
    "ChargePeriodStart": "TIMESTAMP",
    "ChargePeriodEnd": "TIMESTAMP",
    "ChargeCategory": "VARCHAR",
    "ServiceName": "VARCHAR",
    "ServiceCategory": "VARCHAR",
    "RegionId": "VARCHAR",
    "ResourceId": "VARCHAR",
    "BilledCost": MONEY_SQL,
    "EffectiveCost": MONEY_SQL,
    "ListCost": MONEY_SQL,
    "BillingCurrency": "VARCHAR",
    "PricingQuantity": "DOUBLE",
    "PricingUnit": "VARCHAR",
    "Tags": "VARCHAR",  # a JSON object, as FOCUS specifies
    "x_Estimated": "BOOLEAN",  # the charge is not final (no invoice yet)
    "x_Credits": MONEY_SQL,  # credits already netted into BilledCost (GCP)
    "x_SourceFormat": "VARCHAR",
    "x_SourceFile": "VARCHAR",
    "x_SourceRow": "BIGINT",  # 1-based data row in x_SourceFile: reach the raw columns
    "x_Raw": "VARCHAR",  # raw source columns as JSON, for API records (files: see above)
}
MONEY_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "x_Credits")

#: FOCUS 1.0 columns whose presence the spec requires (a FOCUS file missing some of them is read,
#: with a warning naming them, when the comparison does not need them)
FOCUS_MANDATORY = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)

#: FOCUS ChargeCategory allowed values
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")

#: FOCUS 1.1 ServiceCategory allowed values (a fixed list)
SERVICE_CATEGORIES = (
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
)


def mapping_rows(name: str) -> list[dict[str, str]]:
    """The rows of a data table in providers/cost/mappings/ (CSV with a header)."""
    text = resources.files("providers.cost").joinpath("mappings", name).read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [dict(row) for row in csv.DictReader(lines)]


@cache
def currencies() -> frozenset[str]:
    """ISO 4217 codes accepted as BillingCurrency."""
    return frozenset(r["code"] for r in mapping_rows("currencies.csv"))


def quantize_cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def convert(amount: Decimal, currency: str, rates: Mapping[str, Decimal], target: str) -> Decimal:
    """amount in currency expressed in target, by rates (units of target per unit)."""
    if currency == target:
        return amount
    return amount * rates[currency]


def arrow_schema():  # type: ignore[no-untyped-def]
    """The FOCUS columns as a pyarrow schema (pyarrow imported here: it is heavy)."""
    import pyarrow as pa

    types = {
        "VARCHAR": pa.string(),
        "TIMESTAMP": pa.timestamp("us"),
        MONEY_SQL: pa.decimal128(18, MONEY_SCALE),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "BIGINT": pa.int64(),
    }
    return pa.schema([(name, types[t]) for name, t in COLUMNS.items()])


def currencies_known() -> frozenset[str]:
    return currencies()


def sql_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
