"""A seeded generator of realistic billing exports for AWS, GCP and Azure, with known totals.

The embedded default: `specify cloud cost` with no source shows a full comparison of these.
Files written (one month by default):
    aws/cur2-YYYY-MM.parquet|csv       AWS CUR 2.0 (resource_tags a map / JSON text)
    gcp/billing-export-YYYY-MM.jsonl|parquet   GCP standard export rows (nested, credits)
    azure/cost-export-YYYY-MM.csv|parquet      Azure actual-cost export (MM/DD/YYYY dates)

Amounts are generated as integer micro-units, so `SampleTruth` knows every expected figure
exactly. Besides daily usage the data holds: GCP sustained-use credits (netted: cost +
SUM(credits.amount)), an AWS promotional Credit, an AWS Refund, AWS and GCP tax lines, an
Azure reservation Purchase and Refund, estimated AWS rows (the last days have no invoice
id) and one usage spike (AWS EC2) for the anomaly detector.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

MICRO = Decimal("0.000001")
#: the marker file in every folder of generated exports (same name as frame.SAMPLE_MARKER)
SAMPLE_MARKER = ".specify-sample"


@dataclass(frozen=True)
class Service:
    provider: str
    source: str  # the source's service value (product code, description, meterCategory)
    name: str  # FOCUS ServiceName (as in mappings/services.csv)
    category: str
    unit: str  # the shared unit (mappings/units.csv)
    source_unit: str
    factor: float  # shared units per source unit
    price: float  # dollars per source unit
    base_qty: float  # shared units per resource per day


# Prices make a different provider cheapest per category: Compute gcp, Storage azure,
# Databases aws, Networking azure.
CATALOG: tuple[Service, ...] = (
    Service(
        "aws", "AmazonEC2", "Amazon Elastic Compute Cloud", "Compute", "Hours", "Hrs", 1, 0.0416, 24
    ),
    Service(
        "aws",
        "AmazonS3",
        "Amazon Simple Storage Service",
        "Storage",
        "GB-Months",
        "GB-Mo",
        1,
        0.023,
        40,
    ),
    Service(
        "aws",
        "AmazonRDS",
        "Amazon Relational Database Service",
        "Databases",
        "Hours",
        "Hrs",
        1,
        0.171,
        24,
    ),
    Service("aws", "AWSDataTransfer", "AWS Data Transfer", "Networking", "GB", "GB", 1, 0.09, 30),
    Service(
        "aws",
        "AmazonCloudWatch",
        "Amazon CloudWatch",
        "Management and Governance",
        "Requests",
        "Requests",
        1,
        0.00001,
        20000,
    ),
    Service("gcp", "Compute Engine", "Compute Engine", "Compute", "Hours", "hour", 1, 0.0380, 24),
    Service(
        "gcp",
        "Cloud Storage",
        "Cloud Storage",
        "Storage",
        "GB-Months",
        "gibibyte month",
        1.073741824,
        0.0215,
        40,
    ),
    Service("gcp", "Cloud SQL", "Cloud SQL", "Databases", "Hours", "hour", 1, 0.185, 24),
    Service(
        "gcp", "Networking", "Networking", "Networking", "GB", "gibibyte", 1.073741824, 0.12, 10
    ),
    Service(
        "gcp", "BigQuery", "BigQuery", "Analytics", "GB", "gibibyte", 1.073741824, 0.00625, 800
    ),
    Service(
        "azure", "Virtual Machines", "Virtual Machines", "Compute", "Hours", "1 Hour", 1, 0.0440, 24
    ),
    Service("azure", "Storage", "Storage", "Storage", "GB-Months", "1 GB/Month", 1, 0.0184, 40),
    Service(
        "azure", "SQL Database", "Azure SQL Database", "Databases", "Hours", "1 Hour", 1, 0.196, 24
    ),
    Service("azure", "Bandwidth", "Bandwidth", "Networking", "GB", "1 GB", 1, 0.087, 25),
)
REGIONS = {
    "aws": ("us-east-1", "eu-west-1"),
    "gcp": ("us-central1", "europe-west1"),
    "azure": ("eastus", "westeurope"),
}
TEAMS = ("web", "data", "ml")
ENVS = ("prod", "dev")
ACCOUNTS = {"aws": "111122223333", "gcp": "01A2B3-C4D5E6-F7A8B9", "azure": "8608480"}
SUBACCOUNTS = {
    "aws": "444455556666",
    "gcp": "shop-prod",
    "azure": "0f1e2d3c-aaaa-bbbb-cccc-111122223333",
}
GCP_CREDIT_SHARE = 0.2  # sustained use discount on Compute Engine
TAX_RATE = {"aws": 0.08, "gcp": 0.05}


@dataclass
class SampleTruth:
    """What the generated files contain, in FOCUS terms (amounts in micro-units)."""

    rows: (
        pd.DataFrame
    )  # provider, category, service, region, charge, day, amount, qty, unit, estimated, team
    files: dict[str, Path]
    currency: dict[str, str]
    spike: tuple[str, str, date]  # provider, ServiceName, day

    def _sum(self, frame: pd.DataFrame) -> Decimal:
        return Decimal(int(frame["amount"].sum())) * MICRO

    def total(self, provider: str | None = None) -> Decimal:
        rows = self.rows if provider is None else self.rows[self.rows.provider == provider]
        return self._sum(rows)

    def by(self, column: str) -> dict[tuple[str, str], Decimal]:
        """(provider, value) -> total, for column in category/service/region/charge/team."""
        keys = self.rows[column].fillna("")  # untagged lines (tax, credits) have no team
        grouped = self.rows.groupby([self.rows["provider"], keys])["amount"].sum()
        return {(p, str(v)): Decimal(int(a)) * MICRO for (p, v), a in grouped.items()}

    def estimated(self, provider: str) -> Decimal:
        rows = self.rows[(self.rows.provider == provider) & self.rows.estimated]
        return self._sum(rows)

    def unit_rates(self) -> dict[str, dict[str, float]]:
        """category -> provider -> usage cost per shared unit."""
        usage = self.rows[self.rows.charge == "Usage"]
        out: dict[str, dict[str, float]] = {}
        for (cat, unit, prov), g in usage.groupby(["category", "unit", "provider"]):
            if unit in ("Hours", "GB-Months", "GB") and cat != "Analytics":
                out.setdefault(str(cat), {})[str(prov)] = (
                    float(g["amount"].sum()) / 1e6 / float(g["qty"].sum())
                )
        return {c: r for c, r in out.items() if len(r) > 1}


def generate(
    out_dir: Path | str,
    *,
    seed: int = 7,
    start: date = date(2024, 1, 1),
    days: int = 31,
    resources: int = 3,
    aws_format: str = "parquet",
    gcp_format: str = "jsonl",
    azure_format: str = "csv",
    azure_currency: str = "USD",
    providers: Sequence[str] = ("aws", "gcp", "azure"),
) -> SampleTruth:
    """Write sample exports under out_dir; `resources` per service and region sets the size."""
    import numpy as np
    import pandas as pd

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    month = start.strftime("%Y-%m")
    truths: list[pd.DataFrame] = []
    files: dict[str, Path] = {}
    spike_day = start + timedelta(days=min(19, days - 1))
    for provider in providers:
        services = [s for s in CATALOG if s.provider == provider]
        usage = _usage(rng, provider, services, start, days, resources, spike_day)
        extra = _special_rows(provider, usage, start, days)
        frame = pd.concat([usage, extra], ignore_index=True)
        writer = {"aws": _write_aws, "gcp": _write_gcp, "azure": _write_azure}[provider]
        fmt = {"aws": aws_format, "gcp": gcp_format, "azure": azure_format}[provider]
        currency = azure_currency if provider == "azure" else "USD"
        files[provider] = writer(frame, out / provider, month, fmt, start, currency)
        truths.append(frame)
    rows = pd.concat(truths, ignore_index=True)
    rows["amount"] = rows["amount"] + rows["credit"]
    keep = ["provider", "category", "service", "region", "charge", "day", "amount", "qty", "unit"]
    truth = rows[[*keep, "credit", "estimated", "team"]].copy()
    currencies = {p: (azure_currency if p == "azure" else "USD") for p in providers}
    # every output made from these files says they are sample data (frame.SAMPLE_MARKER)
    for folder in {out, *(f.parent for f in files.values())}:
        (folder / SAMPLE_MARKER).write_text("generated by providers.cost.sample: not a real bill\n")
    return SampleTruth(truth, files, currencies, ("aws", "Amazon Elastic Compute Cloud", spike_day))


def _usage(
    rng: Any,
    provider: str,
    services: list[Service],
    start: date,
    days: int,
    resources: int,
    spike_day: date,
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    regions = REGIONS[provider]
    s_idx, r_idx, k_idx, d_idx = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(len(services)),
            np.arange(len(regions)),
            np.arange(resources),
            np.arange(days),
            indexing="ij",
        )
    )
    n = len(s_idx)
    base = np.array([s.base_qty for s in services])[s_idx]
    factor = np.array([s.factor for s in services])[s_idx]
    price = np.array([s.price for s in services])[s_idx]
    qty_norm = base * (1 + rng.uniform(-0.15, 0.15, n))
    # quantities in source units with 3 decimals; amounts in integer micro-units
    qty_milli = np.rint(qty_norm / factor * 1000).astype(np.int64)
    day0 = np.datetime64(start.isoformat(), "D")
    day = day0 + d_idx.astype("timedelta64[D]")
    if provider == "aws":  # one day of runaway EC2 usage
        spike = (s_idx == 0) & (day == np.datetime64(spike_day.isoformat(), "D"))
        qty_milli = np.where(spike, qty_milli * 4, qty_milli)
    amount = np.rint(qty_milli * price * 1000).astype(np.int64)  # price $/unit * 1e6 / 1e3
    credit = np.zeros(n, dtype=np.int64)
    if provider == "gcp":
        compute = np.array([s.category == "Compute" for s in services])[s_idx]
        credit = np.where(compute, -np.rint(amount * GCP_CREDIT_SHARE).astype(np.int64), 0)
    frame = pd.DataFrame(
        {
            "provider": provider,
            "source": np.array([s.source for s in services], dtype=object)[s_idx],
            "service": np.array([s.name for s in services], dtype=object)[s_idx],
            "category": np.array([s.category for s in services], dtype=object)[s_idx],
            "unit": np.array([s.unit for s in services], dtype=object)[s_idx],
            "source_unit": np.array([s.source_unit for s in services], dtype=object)[s_idx],
            "region": np.array(regions, dtype=object)[r_idx],
            "resource": [
                f"{provider}-res-{s}-{r}-{k}" for s, r, k in zip(s_idx, r_idx, k_idx, strict=True)
            ],
            "team": np.array(TEAMS, dtype=object)[k_idx % len(TEAMS)],
            "env": np.array(ENVS, dtype=object)[k_idx % len(ENVS)],
            "day": day,
            "qty_milli": qty_milli,
            "qty": qty_milli / 1000 * factor,
            "amount": amount,
            "list_amount": amount,
            "credit": credit,
            "charge": "Usage",
            "source_charge": {"aws": "Usage", "gcp": "regular", "azure": "Usage"}[provider],
            "estimated": (provider == "aws") & (d_idx >= days - 2),
        }
    )
    return frame


def _special_rows(provider: str, usage: pd.DataFrame, start: date, days: int) -> pd.DataFrame:
    """Tax, credit, refund and purchase lines, as the clouds put them in their exports."""
    import numpy as np
    import pandas as pd

    first = usage.iloc[0]
    rows: list[dict[str, Any]] = []

    def add(
        source: str, charge: str, source_charge: str, amount: int, day: date, **kw: Any
    ) -> None:
        svc = usage[usage.source == source].iloc[0]
        rows.append(
            {
                **{
                    k: svc[k]
                    for k in ("provider", "source", "service", "category", "unit", "source_unit")
                },
                "region": kw.get("region", svc["region"]),
                "resource": None,
                "team": None,
                "env": None,
                "day": np.datetime64(day.isoformat(), "D"),
                "qty_milli": 0,
                "qty": 0.0,
                "amount": amount,
                "list_amount": amount,
                "credit": 0,
                "charge": charge,
                "source_charge": source_charge,
                "estimated": False,
            }
        )

    if provider in TAX_RATE:
        net = usage.groupby("source")["amount"].sum() + usage.groupby("source")["credit"].sum()
        for source, total in net.items():
            tax = round(int(total) * TAX_RATE[provider])
            add(str(source), "Tax", "Tax" if provider == "aws" else "tax", tax, start)
    if provider == "aws":
        add("AmazonEC2", "Credit", "Credit", -50_000_000, start + timedelta(days=min(14, days - 1)))
        add(
            "AmazonS3",
            "Adjustment",
            "Refund",
            -12_340_000,
            start + timedelta(days=min(9, days - 1)),
        )
    if provider == "gcp":
        add(
            "Cloud Storage",
            "Adjustment",
            "adjustment",
            -3_210_000,
            start + timedelta(days=min(5, days - 1)),
        )
    if provider == "azure":
        add("Virtual Machines", "Purchase", "Purchase", 120_000_000, start)
        add(
            "Virtual Machines",
            "Adjustment",
            "Refund",
            -20_500_000,
            start + timedelta(days=min(11, days - 1)),
        )
    del first
    extra = pd.DataFrame(rows)
    extra["day"] = extra["day"].astype("datetime64[s]")
    return extra


# --------------------------------------------------------------------------- writers
def _ts(day: pd.Series, hours: int = 0) -> pd.Series:
    import pandas as pd

    return day.astype("datetime64[s]") + pd.Timedelta(hours=hours)


def _dollars(micro: pd.Series) -> pd.Series:
    return micro / 1e6


def _write_table(table: pa.Table, path: Path, fmt: str, frame_for_text: pd.DataFrame) -> Path:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        target = path.with_suffix(".parquet")
        pq.write_table(table, target, compression="zstd")
        return target
    if fmt == "csv":
        target = path.with_suffix(".csv")
        frame_for_text.to_csv(target, index=False)
        return target
    target = path.with_suffix(".jsonl")
    with open(target, "w", encoding="utf-8") as fh:
        for rec in table.to_pylist():
            fh.write(json.dumps(rec, default=_json_default) + "\n")
    return target


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")  # BigQuery's JSON timestamp form
    raise TypeError(type(value))


def _write_aws(
    frame: pd.DataFrame, folder: Path, month: str, fmt: str, start: date, currency: str
) -> Path:
    import pandas as pd
    import pyarrow as pa

    n = len(frame)
    period = pd.Timestamp(start)
    usage_start = _ts(frame["day"])
    # tax lines span the whole billing period, as in CUR
    is_tax = (frame["charge"] == "Tax").to_numpy()
    end = usage_start + pd.Timedelta(days=1)
    tags = [
        {"user_team": t, "user_env": e} if t is not None else {}
        for t, e in zip(frame["team"], frame["env"], strict=True)
    ]
    data = {
        "identity_line_item_id": [f"li-{i:09d}" for i in range(n)],
        "bill_invoice_id": ["" if est else f"INV-{month}" for est in frame["estimated"]],
        "bill_billing_entity": ["AWS"] * n,
        "bill_payer_account_id": [ACCOUNTS["aws"]] * n,
        "bill_billing_period_start_date": [period] * n,
        "line_item_usage_account_id": [SUBACCOUNTS["aws"]] * n,
        "line_item_line_item_type": frame["source_charge"],
        "line_item_usage_start_date": usage_start,
        "line_item_usage_end_date": end.where(~is_tax, usage_start + pd.Timedelta(days=28)),
        "line_item_product_code": frame["source"],
        "line_item_resource_id": frame["resource"],
        "line_item_usage_amount": frame["qty_milli"] / 1000,
        "line_item_currency_code": [currency] * n,
        "line_item_unblended_cost": _dollars(frame["amount"]),
        "pricing_public_on_demand_cost": _dollars(frame["list_amount"]),
        "pricing_unit": frame["source_unit"],
        "product_region_code": frame["region"],
    }
    text = pd.DataFrame(data)
    for col in (
        "bill_billing_period_start_date",
        "line_item_usage_start_date",
        "line_item_usage_end_date",
    ):
        text[col] = pd.to_datetime(text[col]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    text["line_item_unblended_cost"] = [f"{Decimal(int(a)) * MICRO}" for a in frame["amount"]]
    text["pricing_public_on_demand_cost"] = [
        f"{Decimal(int(a)) * MICRO}" for a in frame["list_amount"]
    ]
    text["resource_tags"] = [json.dumps(t) for t in tags]
    table = pa.Table.from_pandas(pd.DataFrame(data), preserve_index=False).append_column(
        "resource_tags",
        pa.array([list(t.items()) for t in tags], pa.map_(pa.string(), pa.string())),
    )
    return _write_table(table, folder / f"cur2-{month}", fmt, text)


def _write_gcp(
    frame: pd.DataFrame, folder: Path, month: str, fmt: str, start: date, currency: str
) -> Path:
    import pandas as pd
    import pyarrow as pa

    usage_start = _ts(frame["day"])
    credit_list = [
        [
            {
                "name": "Sustained Usage Discount",
                "amount": c / 1e6,
                "full_name": "Sustained Usage Discount",
                "id": "sud",
                "type": "SUSTAINED_USAGE_DISCOUNT",
            }
        ]
        if c
        else []
        for c in frame["credit"]
    ]
    cost_type = frame["source_charge"]
    records = {
        "billing_account_id": [ACCOUNTS["gcp"]] * len(frame),
        "service": [{"id": s[:8].upper(), "description": s} for s in frame["source"]],
        "usage_start_time": usage_start,
        "usage_end_time": usage_start + pd.Timedelta(days=1),
        "project": [{"id": SUBACCOUNTS["gcp"], "name": "shop"}] * len(frame),
        "labels": [
            [{"key": "team", "value": t}, {"key": "env", "value": e}] if t is not None else []
            for t, e in zip(frame["team"], frame["env"], strict=True)
        ],
        "location": [{"location": r, "region": r} for r in frame["region"]],
        "cost": _dollars(frame["amount"]),
        "currency": [currency] * len(frame),
        "usage": [
            {"amount": q / 1000, "unit": u, "amount_in_pricing_units": q / 1000, "pricing_unit": u}
            for q, u in zip(frame["qty_milli"], frame["source_unit"], strict=True)
        ],
        "credits": credit_list,
        "invoice": [{"month": month.replace("-", "")}] * len(frame),
        "cost_type": cost_type,
    }
    table = pa.Table.from_pydict(
        {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in records.items()}
    )
    return _write_table(table, folder / f"billing-export-{month}", fmt, pd.DataFrame())


def _write_azure(
    frame: pd.DataFrame, folder: Path, month: str, fmt: str, start: date, currency: str
) -> Path:
    import pandas as pd
    import pyarrow as pa

    day = _ts(frame["day"])
    n = len(frame)
    data = {
        "invoiceId": [""] * n,
        "billingAccountId": [ACCOUNTS["azure"]] * n,
        "billingPeriodStartDate": [start.strftime("%m/%d/%Y")] * n,
        "date": day.dt.strftime("%m/%d/%Y"),
        "SubscriptionId": [SUBACCOUNTS["azure"]] * n,
        "meterCategory": frame["source"],
        "resourceLocation": frame["region"],
        "ResourceId": [
            f"/subscriptions/{SUBACCOUNTS['azure']}/resourceGroups/rg/providers/x/{r}" if r else ""
            for r in frame["resource"]
        ],
        "chargeType": frame["source_charge"],
        "quantity": frame["qty_milli"] / 1000,
        "unitOfMeasure": frame["source_unit"],
        "billingCurrency": [currency] * n,
        "costInBillingCurrency": [f"{Decimal(int(a)) * MICRO}" for a in frame["amount"]],
        "paygCostInBillingCurrency": [f"{Decimal(int(a)) * MICRO}" for a in frame["list_amount"]],
        "tags": [
            f'"team": "{t}","env": "{e}"' if t is not None else ""
            for t, e in zip(frame["team"], frame["env"], strict=True)
        ],
    }
    text = pd.DataFrame(data)
    typed = text.copy()
    typed["costInBillingCurrency"] = _dollars(frame["amount"]).to_numpy()
    typed["paygCostInBillingCurrency"] = _dollars(frame["list_amount"]).to_numpy()
    table = pa.Table.from_pandas(typed, preserve_index=False)
    return _write_table(table, folder / f"cost-export-{month}", fmt, text)
