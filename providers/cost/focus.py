"""FinOps FOCUS 1.x: the columns every cost source is normalised to, and their types.

Money columns are DECIMAL(18,9): exact sums (DuckDB sums them into DECIMAL(38,9)), nine
decimals keep AWS's sub-micro line amounts, and 10^9 per line is more than any one charge.
Quantities are DOUBLE: they are not money and can exceed 10^9 (requests, bytes).
Columns prefixed `x_` are FOCUS custom columns (allowed by the spec) kept for traceability.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from providers.base import CloudStorage, CostRecord
from providers.errors import CostAnalysisError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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


class FocusFrame:
    """FOCUS rows from any number of sources, as one lazy DuckDB query.

    Files stay where they are: `sql()` is a UNION ALL of one compiled SELECT per scan, so
    aggregations run straight over the files. `to_arrow`/`to_pandas` materialise the rows
    (money as decimal128, exact); `write_parquet` writes them atomically.
    """

    def __init__(self, *, start: date | None = None, end: date | None = None) -> None:
        import duckdb

        from providers.cost import sources

        self.con = duckdb.connect()
        # timestamps with an offset become UTC, whatever the machine's zone
        self.con.execute("SET TimeZone = 'UTC'")
        sources.install_tables(self.con)
        self.parts: list[sources.Part] = []
        self.start, self.end = start, end
        self._checked = False
        self._workdir: Path | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def from_sources(
        cls,
        specs: Sequence[Path | str],
        *,
        start: date | None = None,
        end: date | None = None,
        opener: Callable[[str], tuple[CloudStorage, str]] | None = None,
    ) -> FocusFrame:
        frame = cls(start=start, end=end)
        for spec in specs:
            frame.add_source(spec, opener=opener)
        return frame

    @classmethod
    def from_records(
        cls, records: Sequence[CostRecord], *, start: date | None = None, end: date | None = None
    ) -> FocusFrame:
        frame = cls(start=start, end=end)
        frame.add_records(records)
        return frame

    def add_source(
        self,
        spec: Path | str,
        *,
        opener: Callable[[str], tuple[CloudStorage, str]] | None = None,
    ) -> None:
        """A file, directory, glob, or storage URL (s3://, gs://, az://, block:NAME/...)."""
        from providers.cost import sources

        text = str(spec)
        if ("://" in text and not text.startswith("file://")) or text.startswith("block:"):
            if self._workdir is None:
                self._workdir = sources.tempdir()
            path: Path | str = sources.fetch_remote(text, self._workdir, opener)
        else:
            path = text[len("file://") :] if text.startswith("file://") else text
        self.add_files(sources.expand_paths(path))

    def add_files(self, files: Sequence[Path]) -> None:
        from providers.cost import sources

        groups: dict[tuple[str, str], list[str]] = {}
        for f in files:
            kind = sources.file_kind(f)
            fmt = sources.detect_format(sources.file_columns(self.con, f), where=str(f))
            groups.setdefault((fmt, kind), []).append(str(f))
        for (fmt, kind), paths in groups.items():
            # parquet files of one format are scanned together (parallel, one pass)
            batches = [paths] if kind == "parquet" else [[p] for p in paths]
            for batch in batches:
                self.parts.append(sources.build_part(self.con, fmt, kind, batch))
        self._checked = False

    def add_records(self, records: Sequence[CostRecord], name: str = "records") -> None:
        from providers.cost import sources

        table = sources.records_table(records, name=name)
        view = f"__records_{len(self.parts)}"
        self.con.register(view, table)
        part = sources.Part("api", [name], view, {}, select_sql=f"SELECT * FROM {view}")
        part.text_typed = False
        self.parts.append(part)

    # ------------------------------------------------------------------ reading
    def sql(self) -> str:
        """The FOCUS rows (in the date range) as one SQL query."""
        if not self.parts:
            raise CostAnalysisError(
                "no cost data", operation="compare", hint="Give at least one source or provider"
            )
        union = " UNION ALL ".join(f"({p.select_sql})" for p in self.parts)
        conds = []
        if self.start:
            conds.append(f"ChargePeriodStart >= TIMESTAMP '{self.start.isoformat()}'")
        if self.end:
            conds.append(f"ChargePeriodStart < TIMESTAMP '{self.end.isoformat()}'")
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        return f"SELECT * FROM ({union}){where}"

    def check(self) -> None:
        """Raise for malformed text values (bad number or date, missing value)."""
        from providers.cost import sources

        if self._checked:
            return
        for part in self.parts:
            sources.check_part(self.con, part)
        self._checked = True

    def check_values(
        self, currencies: Iterable[str | None], charge_null: bool, categories: Iterable[str | None]
    ) -> None:
        """Locate and raise for unknown looked-up values seen in an aggregate."""
        from providers.cost import sources

        bad_cur = [c for c in currencies if c is None or c not in currencies_known()]
        if bad_cur:
            sources.locate(
                self.con,
                self.parts,
                "BillingCurrency IS NULL OR BillingCurrency NOT IN (SELECT code FROM __currencies)",
                "BillingCurrency",
                "is not a known currency (ISO 4217)",
            )
        if charge_null:
            sources.locate(
                self.con,
                self.parts,
                "ChargeCategory IS NULL",
                "ChargeCategory",
                "is not a known charge type",
            )
        bad_cat = [c for c in categories if c not in SERVICE_CATEGORIES]
        if bad_cat:
            listing = ", ".join(sql_quote(c) for c in SERVICE_CATEGORIES)
            sources.locate(
                self.con,
                self.parts,
                f"ServiceCategory IS NULL OR ServiceCategory NOT IN ({listing})",
                "ServiceCategory",
                "is not a FOCUS ServiceCategory",
            )

    def validate(self) -> None:
        """Every check, including looked-up values (one extra pass over the data)."""
        self.check()
        rows = self.con.execute(
            f"SELECT DISTINCT BillingCurrency, ChargeCategory IS NULL, ServiceCategory "
            f"FROM ({self.sql()})"
        ).fetchall()
        self.check_values({r[0] for r in rows}, any(r[1] for r in rows), {r[2] for r in rows})

    def to_arrow(self) -> pa.Table:
        self.validate()
        return self.con.sql(self.sql()).to_arrow_table()

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return self.to_arrow().to_pandas(types_mapper=pd.ArrowDtype)

    def write_parquet(self, path: Path | str) -> Path:
        """Validate everything, then write all rows to a temp file renamed into place."""
        target = Path(path)
        self.validate()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            self.con.execute(
                f"COPY ({self.sql()}) TO {sql_quote(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
            )
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def close(self) -> None:
        self.con.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def currencies_known() -> frozenset[str]:
    return currencies()


def sql_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
