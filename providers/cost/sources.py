"""Cost sources: billing export files (format detected) and provider CostRecord lists.

Each source becomes a DuckDB SELECT producing the FOCUS columns, built from the mapping
tables in `mappings/` (one per source format): the code below knows column *kinds*
(text, decimal, timestamp, currency, charge, service), never a particular cloud. Files are
scanned lazily, so the analysis aggregates straight over them.

Malformed input raises CostAnalysisError naming the file, the row (1-based data row) and
the column. Text columns are checked before anything is computed; typed parquet columns
need no check; values looked up in tables (currency, charge type) are checked after the
aggregation, and the offending row is then located.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from providers.base import CloudStorage, CostRecord
from providers.cost import focus
from providers.errors import CostAnalysisError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

PARQUET_EXT = (".parquet", ".pq")
CSV_EXT = (".csv", ".csv.gz")
JSON_EXT = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
LOOKUP_KINDS = ("charge", "service")
_NUMERIC = ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "REAL")
_TEMPORAL = ("TIMESTAMP", "DATE")


def _error(message: str, *, resource: str | None = None, hint: str | None = None) -> Exception:
    return CostAnalysisError(
        message,
        operation="read billing data",
        resource=resource,
        hint=hint or "Fix the file (or regenerate the export) and run again",
    )


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --------------------------------------------------------------------------- mappings
@dataclass(frozen=True)
class ColumnMap:
    focus_column: str
    source_columns: tuple[str, ...]
    kind: str
    expression: str
    fallback: str

    @property
    def required(self) -> bool:
        return bool(self.source_columns) and self.fallback == ""


@dataclass(frozen=True)
class FormatSpec:
    name: str
    signature: tuple[tuple[str, ...], ...]
    columns: tuple[ColumnMap, ...]


@cache
def formats() -> dict[str, FormatSpec]:
    """The known source formats, read from mappings/formats.csv and one table each."""
    sigs: dict[str, list[tuple[str, ...]]] = {}
    tables: dict[str, str] = {}
    for row in focus.mapping_rows("formats.csv"):
        sigs.setdefault(row["format"], []).append(tuple(row["columns"].split("+")))
        tables[row["format"]] = row["mapping"]
    specs = {}
    for name, table in tables.items():
        cols = tuple(
            ColumnMap(
                r["focus_column"],
                tuple(c for c in (r["source_column"] or "").split("|") if c),
                r["kind"],
                r["expression"] or "",
                r["fallback"] or "",
            )
            for r in focus.mapping_rows(table)
        )
        specs[name] = FormatSpec(name, tuple(sigs[name]), cols)
    return specs


def detect_format(columns: Iterable[str], *, where: str = "") -> str:
    """The format whose signature columns are all present (case-insensitive)."""
    present = {c.lower() for c in columns}
    for spec in formats().values():
        for sig in spec.signature:
            if all(c.lower() in present for c in sig):
                return spec.name
    raise _error(
        "the format is not recognised (not an AWS CUR 2.0, GCP billing export, Azure cost "
        "export or FOCUS file)",
        resource=where or None,
        hint="Check that the file is a billing export with its header row",
    )


# --------------------------------------------------------------------------- files
def file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_EXT):
        return "parquet"
    if name.endswith(CSV_EXT):
        return "csv"
    if name.endswith(JSON_EXT):
        return "json"
    raise _error("unknown file type", resource=str(path), hint="Use .parquet, .csv or .jsonl")


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def file_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names of a billing file, read from its header/schema only."""
    kind = file_kind(path)
    try:
        if kind == "parquet":
            rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(str(path))})")
            return [r[0] for r in rows.fetchall()]
        with _open_text(path) as fh:
            if kind == "csv":
                return next(csv.reader(fh), [])
            first = fh.readline()
            return list(json.loads(first).keys()) if first.strip() else []
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _error(f"cannot read the file ({exc})", resource=str(path)) from exc
    except Exception as exc:  # duckdb errors: corrupt parquet
        raise _error(f"cannot read the file ({exc})", resource=str(path)) from exc


def expand_paths(spec: Path | str) -> list[Path]:
    """A file, every billing file under a directory, or a glob's matches."""
    path = Path(spec).expanduser()
    if path.is_dir():
        found = sorted(
            p for p in path.rglob("*") if p.is_file() and _is_billing_name(p) and p.name[0] != "."
        )
    elif any(ch in str(spec) for ch in "*?["):
        found = sorted(
            p for p in Path(path.anchor or ".").glob(str(path).lstrip("/")) if p.is_file()
        )
    else:
        found = [path] if path.is_file() else []
    if not found:
        raise _error(
            "no billing files found", resource=str(spec), hint="Give a file, directory or glob"
        )
    return found


def _is_billing_name(path: Path) -> bool:
    return path.name.lower().endswith(PARQUET_EXT + CSV_EXT + JSON_EXT)


def fetch_remote(
    url: str,
    workdir: Path,
    opener: Callable[[str], tuple[CloudStorage, str]] | None = None,
) -> Path:
    """Download billing files under a storage URL (s3://, gs://, az://, block:) to workdir."""
    from providers.locations import open_location

    storage, prefix = (opener or open_location)(url)
    target = workdir / f"src{len(list(workdir.iterdir()))}"
    target.mkdir(parents=True)
    count = 0
    for obj in storage.list_objects(prefix):
        rel = obj.key[len(prefix) :].lstrip("/") if prefix and obj.key != prefix else obj.key
        rel = rel or Path(obj.key).name
        if not _is_billing_name(Path(rel)):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        storage.download(obj.key, dest)
        count += 1
    if not count:
        raise _error("no billing files found", resource=url, hint="Check the bucket and prefix")
    return target


# --------------------------------------------------------------------------- parts
@dataclass
class Part:
    """One scan (a file, or many parquet files of one format) as FOCUS rows."""

    format: str
    files: list[str]
    scan_sql: str  # yields the source columns plus __file and __row
    columns: dict[str, str]  # source column name -> DuckDB type
    select_sql: str = ""
    source_of: dict[str, str] = field(default_factory=dict)  # FOCUS column -> source column
    checks: list[tuple[str, str, str]] = field(default_factory=list)  # (sql bad, col, focus col)
    text_typed: bool = True


def _scan_sql(kind: str, files: Sequence[str]) -> str:
    if kind == "parquet":
        listing = "[" + ", ".join(sql_str(f) for f in files) + "]"
        return (
            f"(SELECT * EXCLUDE (filename, file_row_number), filename AS __file, "
            f"file_row_number + 1 AS __row FROM read_parquet({listing}, filename=true, "
            "file_row_number=true, union_by_name=true))"
        )
    (only,) = files
    if kind == "csv":
        reader = f"read_csv({sql_str(only)}, header=true, all_varchar=true, auto_detect=true)"
    else:
        reader = f"read_json({sql_str(only)}, format='newline_delimited', sample_size=-1)"
    # insertion order is preserved for one file, so row_number() is the data row number
    return f"(SELECT *, {sql_str(only)} AS __file, row_number() OVER () AS __row FROM {reader})"


def _describe(con: duckdb.DuckDBPyConnection, scan_sql: str, where: str) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {scan_sql}").fetchall()
    except Exception as exc:
        raise _error(f"cannot read the file ({exc})", resource=where) from exc
    return {r[0]: str(r[1]) for r in rows if r[0] not in ("__file", "__row")}


def build_part(con: duckdb.DuckDBPyConnection, fmt: str, kind: str, files: Sequence[str]) -> Part:
    """Compile the format's mapping table into a SELECT of FOCUS columns."""
    scan = _scan_sql(kind, files)
    where = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} files)"
    columns = _describe(con, scan, where)
    part = Part(fmt, list(files), scan, columns, text_typed=kind != "parquet")
    lower = {c.lower(): c for c in columns}
    exprs: dict[str, str] = {}
    spec = formats()[fmt]
    for cm in spec.columns:
        actual = next((lower[c.lower()] for c in cm.source_columns if c.lower() in lower), None)
        if not cm.source_columns:  # a constant or an expression over other columns
            exprs[cm.focus_column] = cm.expression or "NULL"
            continue
        if actual is None:
            if cm.required:
                raise _error(
                    f"column '{cm.source_columns[0]}' is missing "
                    f"({fmt.replace('_', ' ')} needs it for FOCUS {cm.focus_column})",
                    resource=where,
                    hint="Export the file with all standard columns",
                )
            exprs[cm.focus_column] = cm.fallback
            continue
        part.source_of[cm.focus_column] = actual
        exprs[cm.focus_column] = (cm.expression or _default_expr(cm.kind)).replace(
            "{col}", quote(actual)
        )
        if cm.kind in ("decimal", "timestamp") and not _already_typed(cm.kind, columns[actual]):
            bad = f"({quote(actual)} IS NOT NULL AND ({exprs[cm.focus_column]}) IS NULL)"
            part.checks.append((bad, actual, cm.focus_column))
        if cm.required and cm.kind in ("decimal", "timestamp", "currency", "charge", "service"):
            part.checks.append((f"({quote(actual)} IS NULL)", actual, cm.focus_column))
    resolved = {name: _resolve(name, exprs, ()) for name in exprs}
    part.select_sql = _select(
        fmt, resolved, explicit_category="ServiceCategory" in exprs, scan=scan
    )
    return part


def _default_expr(kind: str) -> str:
    return {
        "text": "CAST({col} AS VARCHAR)",
        "decimal": f"TRY_CAST({{col}} AS {focus.MONEY_SQL})",
        "timestamp": "CAST(TRY_CAST({col} AS TIMESTAMPTZ) AS TIMESTAMP)",
        "currency": "upper(trim(CAST({col} AS VARCHAR)))",
        "charge": "CAST({col} AS VARCHAR)",
        "service": "CAST({col} AS VARCHAR)",
    }[kind]


def _already_typed(kind: str, duck_type: str) -> bool:
    prefixes = _NUMERIC if kind == "decimal" else _TEMPORAL
    return duck_type.upper().startswith(prefixes)


def _resolve(name: str, exprs: dict[str, str], seen: tuple[str, ...]) -> str:
    """Substitute @Column references (another FOCUS column's expression)."""
    if name in seen:
        raise ValueError(f"mapping cycle through {name}")
    text = exprs[name]
    for other in sorted(exprs, key=len, reverse=True):
        token = "@" + other
        if token in text:
            text = text.replace(token, "(" + _resolve(other, exprs, (*seen, name)) + ")")
    return text


def _select(fmt: str, exprs: dict[str, str], *, explicit_category: bool, scan: str) -> str:
    inner = []
    for col, typ in focus.COLUMNS.items():
        if col in ("x_SourceFormat", "x_SourceFile", "x_SourceRow", "x_Raw", "ServiceCategory"):
            continue
        expr = exprs.get(col, "NULL")
        if col == "Tags":  # FOCUS: a JSON object, empty when the source has no tags
            expr = f"COALESCE({expr}, '{{}}')"
        inner.append(f"CAST({expr} AS {typ}) AS {col}")
    if explicit_category:
        inner.append(f"CAST({exprs['ServiceCategory']} AS VARCHAR) AS ServiceCategory")
    inner += ["__file AS x_SourceFile", "__row AS x_SourceRow"]
    outer = []
    for col in focus.COLUMNS:
        if col == "ChargeCategory":
            outer.append("c.ChargeCategory AS ChargeCategory")
        elif col == "ServiceName" and not explicit_category:
            outer.append("COALESCE(s.ServiceName, r.ServiceName) AS ServiceName")
        elif col == "ServiceCategory":
            outer.append(
                "r.ServiceCategory AS ServiceCategory"
                if explicit_category
                else "COALESCE(s.ServiceCategory, 'Other') AS ServiceCategory"
            )
        elif col == "x_SourceFormat":
            outer.append(f"{sql_str(fmt)} AS x_SourceFormat")
        elif col == "x_Raw":
            outer.append("CAST(NULL AS VARCHAR) AS x_Raw")
        else:
            outer.append(f"r.{col}")
    join_service = (
        ""
        if explicit_category
        else " LEFT JOIN __service_map s ON s.provider = r.ProviderName "
        "AND s.source_service = r.ServiceName"
    )
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {scan}) r "
        f"LEFT JOIN __charge_map c ON c.source = {sql_str(fmt)} "
        f"AND c.source_value = r.ChargeCategory{join_service}"
    )


def install_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The lookup tables the compiled SELECTs join (from the mapping data)."""
    import pyarrow as pa

    def table(rows: list[dict[str, str]], cols: Sequence[str]) -> pa.Table:
        return pa.table({c: [r[c] for r in rows] for c in cols})

    charge = table(
        focus.mapping_rows("charge_categories.csv"), ("source", "source_value", "ChargeCategory")
    )
    service = table(
        focus.mapping_rows("services.csv"),
        ("provider", "source_service", "ServiceName", "ServiceCategory"),
    )
    currencies = pa.table({"code": sorted(focus.currencies())})
    con.register("__charge_map_arrow", charge)
    con.register("__service_map_arrow", service)
    con.register("__currency_arrow", currencies)
    con.execute("CREATE OR REPLACE TEMP TABLE __charge_map AS SELECT * FROM __charge_map_arrow")
    con.execute("CREATE OR REPLACE TEMP TABLE __service_map AS SELECT * FROM __service_map_arrow")
    con.execute("CREATE OR REPLACE TEMP TABLE __currencies AS SELECT * FROM __currency_arrow")


# --------------------------------------------------------------------------- checks
def check_part(con: duckdb.DuckDBPyConnection, part: Part) -> None:
    """Raise for the first malformed value (bad number/date, missing required value)."""
    if not part.checks:
        return
    case = " ".join(f"WHEN {bad} THEN {sql_str(col)}" for bad, col, _ in part.checks)
    cond = " OR ".join(bad for bad, _, _ in part.checks)
    sql = (
        f"SELECT __file, __row, CASE {case} END FROM {part.scan_sql} WHERE {cond} "
        "ORDER BY __file, __row LIMIT 1"
    )
    row = con.execute(sql).fetchone()
    if row is None:
        return
    file, rownum, col = row
    value = con.execute(
        f"SELECT CAST({quote(col)} AS VARCHAR) FROM {part.scan_sql} WHERE __file = ? AND __row = ?",
        [file, rownum],
    ).fetchone()
    shown = "empty" if value is None or value[0] is None else f"'{value[0]}'"
    focus_col = next(f for _, c, f in part.checks if c == col)
    what = (
        "a date/time"
        if focus_col.startswith(("Charge", "Billing")) and "Period" in focus_col
        else ("a number" if focus_col in focus.MONEY_COLUMNS else "a value")
    )
    raise _error(
        f"file {file}, row {rownum}, column '{col}': {shown} is not {what}",
        resource=f"{file}:{rownum}:{col}",
    )


def locate(
    con: duckdb.DuckDBPyConnection, parts: Sequence[Part], condition: str, focus_col: str, why: str
) -> None:
    """Raise naming the first row (over all parts) whose FOCUS values meet condition."""
    for part in parts:
        sql = (
            f"SELECT x_SourceFile, x_SourceRow, CAST({focus_col} AS VARCHAR), "
            f"x_Raw FROM ({part.select_sql}) WHERE {condition} ORDER BY 1, 2 LIMIT 1"
        )
        row = con.execute(sql).fetchone()
        if row is not None:
            file, rownum, value, _ = row
            col = part.source_of.get(focus_col, focus_col)
            if col in part.columns:  # show the value as the file has it
                raw = con.execute(
                    f"SELECT CAST({quote(col)} AS VARCHAR) FROM {part.scan_sql} "
                    "WHERE __file = ? AND __row = ?",
                    [file, rownum],
                ).fetchone()
                value = raw[0] if raw else value
            raise _error(
                f"file {file}, row {rownum}, column '{col}': '{value}' {why}",
                resource=f"{file}:{rownum}:{col}",
                hint=(
                    "Add the value to providers/cost/mappings/charge_categories.csv"
                    if focus_col == "ChargeCategory"
                    else "Use an ISO 4217 currency code"
                    if focus_col == "BillingCurrency"
                    else None
                ),
            )


# --------------------------------------------------------------------------- records
def records_table(records: Sequence[CostRecord], *, name: str = "records") -> pa.Table:
    """CostRecords (from Cost Explorer, BigQuery, Cost Management) as FOCUS rows.

    Service names are looked up in mappings/services.csv; the charge category comes from
    raw['ChargeCategory'] when the adapter set it, else Usage (credits: negative Credit).
    Bad values raise CostAnalysisError naming the record's position.
    """
    import pyarrow as pa

    service_map = {
        (r["provider"], r["source_service"]): (r["ServiceName"], r["ServiceCategory"])
        for r in focus.mapping_rows("services.csv")
    }
    cols: dict[str, list[Any]] = {c: [] for c in focus.COLUMNS}
    for i, rec in enumerate(records, start=1):
        where = f"{name} from {rec.provider}, row {i}"
        if rec.currency.upper() not in focus.currencies():
            raise _error(
                f"{where}, column 'currency': '{rec.currency}' is not a known currency",
                resource=f"{name}:{i}:currency",
                hint="Use an ISO 4217 currency code",
            )
        try:
            amount = Decimal(rec.amount).quantize(Decimal(1).scaleb(-focus.MONEY_SCALE))
        except Exception as exc:
            raise _error(
                f"{where}, column 'amount': '{rec.amount}' is not a number",
                resource=f"{name}:{i}:amount",
            ) from exc
        if not isinstance(rec.period_start, date) or not isinstance(rec.period_end, date):
            raise _error(f"{where}, column 'period_start': not a date", resource=f"{name}:{i}")
        raw_charge = str(rec.raw.get("ChargeCategory") or "")
        charge = (
            raw_charge
            if raw_charge in focus.CHARGE_CATEGORIES
            else ("Credit" if amount < 0 else "Usage")
        )
        svc_name, category = service_map.get((rec.provider, rec.service), (rec.service, "Other"))
        row = {
            "ProviderName": rec.provider,
            "BillingAccountId": rec.account,
            "SubAccountId": rec.account,
            "BillingPeriodStart": _ts(rec.period_start.replace(day=1)),
            "ChargePeriodStart": _ts(rec.period_start),
            "ChargePeriodEnd": _ts(rec.period_end),
            "ChargeCategory": charge,
            "ServiceName": svc_name,
            "ServiceCategory": category,
            "RegionId": rec.region,
            "ResourceId": None,
            "BilledCost": amount,
            "EffectiveCost": amount,
            "ListCost": amount,
            "BillingCurrency": rec.currency.upper(),
            "PricingQuantity": None,
            "PricingUnit": None,
            "Tags": json.dumps(dict(rec.tags), sort_keys=True),
            "x_Estimated": rec.estimated,
            "x_Credits": None,
            "x_SourceFormat": "api",
            "x_SourceFile": f"{name}:{rec.provider}",
            "x_SourceRow": i,
            "x_Raw": json.dumps(dict(rec.raw), default=str, sort_keys=True),
        }
        for c in cols:
            cols[c].append(row[c])
    return pa.Table.from_pydict(cols, schema=focus.arrow_schema())


def _ts(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def tempdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="specify-cost-"))
