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
    staged_sql: str = ""  # the scan plus every mapped expression as __f_<FOCUS column>
    inner_sql: str = ""  # FOCUS columns before lookups (see lookup_sql)
    explicit: bool = False  # the source names its ServiceCategory (FOCUS files, API records)
    select_sql: str = ""
    source_of: dict[str, str] = field(default_factory=dict)  # FOCUS column -> source column
    # (SQL true for a bad value, source column, what is wrong with it)
    checks: list[tuple[str, str, str]] = field(default_factory=list)
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
        if cm.expression:
            template = cm.expression
        elif cm.kind == "timestamp" and _already_typed(cm.kind, columns[actual]):
            template = "CAST({col} AS TIMESTAMP)"  # typed parquet: no parsing (much faster)
        else:
            template = _default_expr(cm.kind)
        exprs[cm.focus_column] = template.replace("{col}", quote(actual))
        if cm.kind in ("decimal", "timestamp") and not _already_typed(cm.kind, columns[actual]):
            # the parsed value is computed once (see _stage); the check reads it by name
            bad = f"({quote(actual)} IS NOT NULL AND {quote('__f_' + cm.focus_column)} IS NULL)"
            part.checks.append((bad, actual, _PROBLEM[cm.kind]))
        if cm.required and cm.kind in ("decimal", "timestamp", "currency", "charge", "service"):
            part.checks.append((f"({quote(actual)} IS NULL)", actual, _REQUIRED))
    if kind == "parquet" and part.checks:
        # parquet footers count nulls per column: check only columns that have some
        listing = "[" + ", ".join(sql_str(f) for f in files) + "]"
        rows = con.execute(
            f"SELECT path_in_schema, SUM(stats_null_count), COUNT(*) - COUNT(stats_null_count) "
            f"FROM parquet_metadata({listing}) GROUP BY 1"
        ).fetchall()
        clean = {r[0] for r in rows if r[1] == 0 and r[2] == 0}
        part.checks = [c for c in part.checks if not (c[2] == _REQUIRED and c[1] in clean)]
    staged, computed = _stage(exprs, scan)
    part.staged_sql = staged
    part.explicit = "ServiceCategory" in exprs
    part.inner_sql = _inner(
        fmt, computed, explicit_category=part.explicit, scan=staged, checks=part.checks
    )
    part.select_sql = _select(part.inner_sql)
    return part


_PROBLEM = {"decimal": "is not a number", "timestamp": "is not a date"}
_REQUIRED = "empty: a value is required"


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


def _stage(exprs: dict[str, str], scan: str) -> tuple[str, dict[str, str]]:
    """Compute each expression once, in nested projections ordered by @Column references.

    `@BilledCost` in a mapping means "the value of the FOCUS column BilledCost"; the column
    is computed in a lower projection and referenced by name, so an expensive expression
    (GCP's credits sum) is evaluated once per row however often it is used.
    """
    names = sorted(exprs, key=len, reverse=True)

    def refs(name: str) -> list[str]:
        text, found = exprs[name], []
        for other in names:
            if "@" + other in text:
                found.append(other)
                text = text.replace("@" + other, "")
        return found

    depth: dict[str, int] = {}

    def level(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in seen:
            raise ValueError(f"mapping cycle through {name}")
        if name not in depth:
            depth[name] = 1 + max((level(r, (*seen, name)) for r in refs(name)), default=-1)
        return depth[name]

    for name in exprs:
        level(name)
    sql = scan
    for d in range(max(depth.values(), default=0) + 1):
        cols = []
        for name in exprs:
            if depth[name] != d:
                continue
            text = exprs[name]
            for other in names:
                text = text.replace("@" + other, quote(f"__f_{other}"))
            cols.append(f"{text} AS {quote(f'__f_{name}')}")
        sql = f"(SELECT *, {', '.join(cols)} FROM {sql})"
    return sql, {name: quote(f"__f_{name}") for name in exprs}


def _inner(
    fmt: str,
    exprs: dict[str, str],
    *,
    explicit_category: bool,
    scan: str,
    checks: Sequence[tuple[str, str, str]] = (),
) -> str:
    """FOCUS columns before the lookups: ChargeCategory and ServiceName hold source values."""
    cols = []
    for col, typ in focus.COLUMNS.items():
        if col in ("x_SourceFile", "x_SourceRow"):
            continue
        if col == "x_SourceFormat":
            expr = sql_str(fmt)
        elif col == "ServiceCategory" and not explicit_category:
            expr = "NULL"
        else:
            expr = exprs.get(col, "NULL")
        if col == "Tags":  # FOCUS: a JSON object, empty when the source has no tags
            expr = f"COALESCE({expr}, '{{}}')"
        cols.append(f"CAST({expr} AS {typ}) AS {col}")
    cols += [
        "__file AS x_SourceFile",
        "__row AS x_SourceRow",
        f"{'TRUE' if explicit_category else 'FALSE'} AS __explicit",
        # which check a row fails (NULL: none), so one aggregation pass also validates
        (
            "CASE "
            + " ".join(f"WHEN {bad} THEN {i}" for i, (bad, _, _) in enumerate(checks))
            + " END AS __bad"
            if checks
            else "CAST(NULL AS INTEGER) AS __bad"
        ),
    ]
    return f"SELECT {', '.join(cols)} FROM {scan}"


def lookup_sql(relation: str) -> str:
    """Apply the charge-type and service tables to pre-lookup rows (or their aggregate).

    The lookups run after aggregation in the analyzer (a few thousand groups instead of
    millions of rows); for row output they run on every row.
    """
    return (
        "SELECT r.* REPLACE ("
        "c.ChargeCategory AS ChargeCategory, "
        "CASE WHEN r.__explicit THEN r.ServiceName "
        "ELSE COALESCE(s.ServiceName, r.ServiceName) END AS ServiceName, "
        "CASE WHEN r.__explicit THEN r.ServiceCategory "
        "ELSE COALESCE(s.ServiceCategory, 'Other') END AS ServiceCategory) "
        f"FROM ({relation}) r "
        "LEFT JOIN __charge_map c ON c.source = r.x_SourceFormat "
        "AND c.source_value = r.ChargeCategory "
        "LEFT JOIN __service_map s ON NOT r.__explicit AND s.provider = r.ProviderName "
        "AND s.source_service = r.ServiceName"
    )


def _select(inner: str) -> str:
    return f"SELECT {', '.join(focus.COLUMNS)} FROM ({lookup_sql(inner)})"


def install_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The lookup tables the compiled SELECTs join (from the mapping data)."""
    tables = {
        "__charge_map": (
            focus.mapping_rows("charge_categories.csv"),
            ("source", "source_value", "ChargeCategory"),
        ),
        "__service_map": (
            focus.mapping_rows("services.csv"),
            ("provider", "source_service", "ServiceName", "ServiceCategory"),
        ),
        "__currencies": ([{"code": c} for c in sorted(focus.currencies())], ("code",)),
    }
    for name, (rows, cols) in tables.items():
        values = ", ".join("(" + ", ".join(sql_str(r[c]) for c in cols) + ")" for r in rows)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS "
            f"SELECT * FROM (VALUES {values}) t({', '.join(cols)})"
        )


# --------------------------------------------------------------------------- checks
def check_part(con: duckdb.DuckDBPyConnection, part: Part) -> None:
    """Raise for the first malformed value (bad number/date, missing required value)."""
    checks = part.checks
    if not checks:
        return
    case = " ".join(f"WHEN {bad} THEN {i}" for i, (bad, _, _) in enumerate(checks))
    cond = " OR ".join(bad for bad, _, _ in checks)
    sql = (
        f"SELECT __file, __row, CASE {case} END FROM {part.staged_sql} WHERE {cond} "
        "ORDER BY __file, __row LIMIT 1"
    )
    row = con.execute(sql).fetchone()
    if row is None:
        return
    file, rownum, index = row
    _, col, problem = checks[index]
    value = con.execute(
        f"SELECT CAST({quote(col)} AS VARCHAR) FROM {part.scan_sql} WHERE __file = ? AND __row = ?",
        [file, rownum],
    ).fetchone()
    shown = "" if value is None or value[0] is None else f"'{value[0]}' "
    raise _error(
        f"file {file}, row {rownum}, column '{col}': {shown}{problem}",
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
    the raw charge type the adapter kept (RECORD_CHARGE_KEYS, read with the provider's
    charge table), else Usage (a negative amount: Credit).
    Bad values raise CostAnalysisError naming the record's position.
    """
    import pyarrow as pa

    service_map = {
        (r["provider"], r["source_service"]): (r["ServiceName"], r["ServiceCategory"])
        for r in focus.mapping_rows("services.csv")
    }
    charge_map = {
        (r["source"], r["source_value"]): r["ChargeCategory"]
        for r in focus.mapping_rows("charge_categories.csv")
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
        charge = _record_charge(rec, amount, charge_map)
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
            "x_Credits": _credits(rec.raw.get("credits")),
            "x_SourceFormat": "api",
            "x_SourceFile": f"{name}:{rec.provider}",
            "x_SourceRow": i,
            "x_Raw": json.dumps(dict(rec.raw), default=str, sort_keys=True),
        }
        for c in cols:
            cols[c].append(row[c])
    return pa.Table.from_pydict(cols, schema=focus.arrow_schema())


#: raw keys where API adapters leave the source's charge type, and the table to read it with
RECORD_CHARGE_KEYS = ("ChargeCategory", "RECORD_TYPE", "record_type", "cost_type", "ChargeType")
RECORD_FORMATS = {"aws": "aws_cur2", "gcp": "gcp_billing_export", "azure": "azure_cost_export"}


def _record_charge(rec: CostRecord, amount: Decimal, charge_map: dict[tuple[str, str], str]) -> str:
    """The FOCUS ChargeCategory of an API record: its raw charge type, else by sign."""
    for key in RECORD_CHARGE_KEYS:
        value = rec.raw.get(key)
        if value is None:
            continue
        text = str(value)
        if text in focus.CHARGE_CATEGORIES:
            return text
        mapped = charge_map.get((RECORD_FORMATS.get(rec.provider, ""), text))
        if mapped:
            return mapped
    return "Credit" if amount < 0 else "Usage"


def _credits(value: object) -> Decimal | None:
    """Credits an adapter already netted into the amount (GCP's SUM(credits.amount))."""
    if value is None:
        return None
    try:
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-focus.MONEY_SCALE))
    except Exception:
        return None


def _ts(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def tempdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="specify-cost-"))
