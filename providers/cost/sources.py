"""Cost sources: billing export files (format detected) and provider CostRecord lists.

Each source becomes a DuckDB SELECT producing the FOCUS columns, built from the mapping
tables in `mappings/` (one per source format): the code below knows column *kinds*
(text, decimal, timestamp, currency, charge, service, provider, tags), never a particular
cloud. Files are scanned lazily, so the analysis aggregates straight over them.

Malformed input raises CostInputError (bad input: exit 2) naming the file, the row (1-based
data row) and the column, and what to do. Text columns are checked in the same pass as the
aggregation; typed parquet columns need fewer checks; values looked up in tables (currency,
charge type) are checked after the aggregation, and the offending row is then located.

Numbers follow one strict rule (`NUMBER_RE`): optional sign, digits with an optional
decimal point, optional exponent; nothing else (no `_`, no thousands separators, no
booleans, no NaN/Infinity), and a value that does not fit DECIMAL(18,9) is an error, never
NULL.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
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
from providers.errors import CostInputError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

PARQUET_EXT = (".parquet", ".pq")
CSV_EXT = (".csv", ".csv.gz")
JSON_EXT = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
LOOKUP_KINDS = ("charge", "service")
_NUMERIC: tuple[str, ...] = (
    "DOUBLE",
    "FLOAT",
    "DECIMAL",
    "BIGINT",
    "INTEGER",
    "HUGEINT",
    "SMALLINT",
    "REAL",
)
_NUMERIC += ("TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "UHUGEINT")
_TEMPORAL = ("TIMESTAMP", "DATE")
#: the one number rule for text values (after trimming spaces)
NUMBER_RE = r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"
MONEY_MAX = Decimal("999999999.999999999")
#: line endings are checked over the whole file below this size, else in its first MiB
_FULL_SCAN_BYTES = 64 * 2**20
JSON_SHAPE = (
    "JSON lines (one row object per line) or a JSON array of row objects, as written by "
    "`bq query --format=json` or `--format=prettyjson`"
)


def _error(message: str, *, resource: str | None = None, hint: str | None = None) -> Exception:
    return CostInputError(
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
    dataset: str = ""

    @property
    def required(self) -> bool:
        return bool(self.source_columns) and self.fallback == ""


@dataclass(frozen=True)
class FormatSpec:
    name: str
    title: str
    signature: tuple[tuple[str, ...], ...]
    columns: tuple[ColumnMap, ...]
    charges: str  # the key of this format's rows in charge_categories.csv
    datasets: str = ""  # 'azure': actual or amortized, decided per file


@cache
def formats() -> dict[str, FormatSpec]:
    """The known source formats, read from mappings/formats.csv and one table each."""
    sigs: dict[str, list[tuple[str, ...]]] = {}
    rows: dict[str, dict[str, str]] = {}
    for row in focus.mapping_rows("formats.csv"):
        sigs.setdefault(row["format"], []).append(tuple(row["columns"].split("+")))
        rows.setdefault(row["format"], row)
    specs = {}
    for name, row in rows.items():
        cols = tuple(
            ColumnMap(
                r["focus_column"],
                tuple(c for c in (r["source_column"] or "").split("|") if c),
                r["kind"],
                r["expression"] or "",
                r["fallback"] or "",
                r.get("dataset") or "",
            )
            for r in focus.mapping_rows(row["mapping"])
        )
        specs[name] = FormatSpec(
            name, row["title"], tuple(sigs[name]), cols, row["charges"], row["dataset"] or ""
        )
    return specs


def format_title(fmt: str, dataset: str = "") -> str:
    spec = formats().get(fmt)
    title = spec.title if spec else "API records"
    return f"{title}, {dataset} cost" if dataset else title


def detect_format(columns: Iterable[str], *, where: str = "", kind: str = "csv") -> str:
    """The format whose signature columns are all present (case-insensitive)."""
    cols = list(columns)
    present = {c.lower() for c in cols}
    for spec in formats().values():
        for sig in spec.signature:
            if all(c.lower() in present for c in sig):
                return spec.name
    known = "; ".join(f"{s.title}: {', '.join(s.signature[0])}" for s in formats().values())
    if kind == "json":
        hint = f"Give {JSON_SHAPE}, with the columns of a GCP billing export or a FOCUS file"
    else:
        hint = (
            "Check that the file is a billing export with its header row. Recognised "
            f"formats and the columns that identify them: {known}"
        )
    shown = ", ".join(cols[:8]) + (", ..." if len(cols) > 8 else "")
    raise _error(
        f"the format is not recognised (its columns: {shown or 'none'})",
        resource=where or None,
        hint=hint,
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
    raise _error(
        "unknown file type",
        resource=str(path),
        hint="Use .parquet, .csv, .csv.gz, .json, .jsonl or .json.gz",
    )


def _open_binary(path: Path) -> Any:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _open_text(path: Path) -> io.TextIOBase:
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="")


def csv_header(path: Path) -> tuple[list[str], bool]:
    """The header of a CSV file, and whether at least one data row follows it."""
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            has_rows = any(any(field.strip() for field in row) for row in reader)
            return header, has_rows
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        raise _error(f"cannot read the file ({exc})", resource=str(path)) from exc


def _first_rows_any(path: Path) -> bool:
    """For CSV: does any data row follow the header (reads until the first one)?"""
    return csv_header(path)[1]


def _json_scan(path: str) -> str:
    return f"read_json({sql_str(path)}, format='auto', sample_size=-1)"


def file_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names of a billing file, read from its header/schema only."""
    kind = file_kind(path)
    try:
        if kind == "parquet":
            rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(str(path))})")
            return [r[0] for r in rows.fetchall()]
        if kind == "csv":
            return csv_header(path)[0]
        with _open_text(path) as fh:
            head = fh.read(4096).lstrip()
        if not head:
            raise _error("the file is empty: it has no rows", resource=str(path))
        if head[0] not in "[{":
            raise _error(
                f"the file is not JSON rows (it starts with {head[:20]!r})",
                resource=str(path),
                hint=f"Give {JSON_SHAPE}",
            )
        described = con.execute(f"DESCRIBE SELECT * FROM {_json_scan(str(path))}").fetchall()
        return [r[0] for r in described]
    except CostInputError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _error(f"cannot read the file ({exc})", resource=str(path)) from exc
    except Exception as exc:  # duckdb errors: corrupt parquet, JSON of the wrong shape
        shape = f" Expected {JSON_SHAPE}" if kind == "json" else ""
        raise _error(
            f"cannot read the file ({_first_line(exc)}).{shape}", resource=str(path)
        ) from exc


def _one(cursor: Any) -> Any:
    """The first row of a result, reading it to the end (DuckDB needs that)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_not_empty(con: duckdb.DuckDBPyConnection, path: Path, kind: str) -> None:
    """An export with no data rows is an error naming the file (never a provider quietly
    missing from the totals)."""
    where = str(path)
    if kind == "csv":
        if not _first_rows_any(path):
            raise _error(
                "the export has no data rows (only a header, or it is cut inside the header)",
                resource=where,
                hint="Export the period again; an export with no costs still has rows",
            )
        return
    try:
        if kind == "parquet":
            n = _one(
                con.execute(f"SELECT SUM(num_rows) FROM parquet_file_metadata({sql_str(where)})")
            )
        else:
            n = _one(con.execute(f"SELECT COUNT(*) FROM {_json_scan(where)}"))
    except Exception as exc:
        shape = f" Expected {JSON_SHAPE}" if kind == "json" else ""
        raise _error(f"cannot read the file ({_first_line(exc)}).{shape}", resource=where) from exc
    if not n or not n[0]:
        raise _error("the export has no data rows", resource=where)


def mixed_line_endings(path: Path) -> bool:
    """Both CRLF and bare LF line ends (the whole file if small, else its first MiB)."""
    limit = _FULL_SCAN_BYTES if path.stat().st_size <= _FULL_SCAN_BYTES else 2**20
    with _open_binary(path) as fh:
        data = fh.read(limit)
    crlf = data.count(b"\r\n")
    return crlf > 0 and data.count(b"\n") > crlf


@dataclass(frozen=True)
class Manifest:
    path: Path
    files: tuple[Path, ...]


def read_manifest(path: Path) -> Manifest | None:
    """An AWS CUR manifest (`reportKeys`, legacy CUR) or Data Exports manifest (`dataFiles`,
    CUR 2.0): the report files it lists, found next to it. None if not a manifest."""
    if not path.name.lower().endswith(".json"):
        return None
    try:
        data = json.loads(path.read_text("utf-8-sig"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    keys = data.get("reportKeys") or data.get("dataFiles")
    if not isinstance(keys, list) or not ("assemblyId" in data or "dataFiles" in data):
        return None
    found = []
    for key in keys:
        parts = str(key).replace("s3://", "").split("/")
        candidates = [path.parent.joinpath(*parts[i:]) for i in range(len(parts))]
        match = next((c for c in candidates if c.is_file()), None)
        if match is None:
            raise _error(
                f"the manifest lists '{key}', which is not next to it",
                resource=str(path),
                hint="Download every file of the report (the manifest and the files it lists)",
            )
        found.append(match)
    return Manifest(path, tuple(found))


def expand_paths(spec: Path | str) -> list[Path]:
    """A file, every billing file under a directory, or a glob's matches.

    A CUR manifest stands for the files it lists: in a directory holding manifests, only
    the report files some manifest lists are read (older assemblies of the same month,
    which AWS leaves in place, would count twice)."""
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
    manifests = [m for m in (read_manifest(p) for p in found) if m is not None]
    if not manifests:
        return found
    listed = {f.resolve() for m in manifests for f in m.files}
    skip = {m.path.resolve() for m in manifests}
    out = [p for p in found if p.resolve() in listed]
    for p in found:
        resolved = p.resolve()
        if resolved in skip or resolved in listed:
            continue
        if any(resolved.is_relative_to(m.path.parent.resolve()) for m in manifests):
            continue  # an older assembly of a report whose manifest is here
        out.append(p)
    out += [f for m in manifests for f in m.files if f.resolve() not in {o.resolve() for o in out}]
    return sorted(set(out))


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
    # inner_sql without source row numbers (x_SourceRow NULL), for whole-file aggregation
    aggregate_sql: str = ""
    explicit: bool = False  # the source names its ServiceCategory (FOCUS files, API records)
    select_sql: str = ""
    source_of: dict[str, str] = field(default_factory=dict)  # FOCUS column -> source column
    # (SQL true for a bad value, source column, what is wrong with it)
    checks: list[tuple[str, str, str]] = field(default_factory=list)
    text_typed: bool = True
    dataset: str = ""  # 'actual' / 'amortized' for Azure cost exports
    warnings: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # CSV header as written

    @property
    def title(self) -> str:
        return format_title(self.format, self.dataset)

    @property
    def has_billed(self) -> bool:
        """False when the source gives no BilledCost (an amortized export)."""
        return self.dataset != "amortized"


def _csv_reader(path: str, header: list[str], fmt: str, mixed: bool) -> str:
    """An explicit dialect (never sniffed): the header parsed by Python's csv module, every
    column text, RFC 4180 quoting; strict (a short or long row is an error) unless the line
    endings are mixed, where DuckDB's strict parser refuses the file."""
    names = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        name = name or f"column{i}"
        if name.lower() in seen:  # DuckDB needs unique names
            seen[name.lower()] += 1
            name = f"{name}_{seen[name.lower()]}"
        seen.setdefault(name.lower(), 0)
        names.append(name)
    cols = "{" + ", ".join(f"{sql_str(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = "['', 'NULL']" if fmt == "focus" else "['']"
    strict = "false" if mixed else "true"
    return (
        f"read_csv({sql_str(path)}, header=true, auto_detect=false, delim=',', quote='\"', "
        f"escape='\"', columns={cols}, nullstr={nulls}, strict_mode={strict}, "
        "null_padding=false, max_line_size=16777216)"
    )


def _gcp_struct_columns(columns: Sequence[str]) -> str:
    """GCP export as CSV with flattened dotted columns ('service.description'): rebuild the
    BigQuery records, and parse list columns written as JSON or Python literals."""
    groups: dict[str, list[str]] = {}
    for c in columns:
        if "." in c:
            groups.setdefault(c.split(".", 1)[0], []).append(c)
    lower = {c.lower() for c in columns}
    exprs = []
    for prefix, cols in groups.items():
        if prefix.lower() in lower:
            continue
        fields = ", ".join(f"{quote(c.split('.', 1)[1])} := {quote(c)}" for c in cols)
        exprs.append(f"struct_pack({fields}) AS {quote(prefix)}")
    replace = []
    lists = {
        "credits": '[{"name": "VARCHAR", "amount": "VARCHAR", "type": "VARCHAR"}]',
        "labels": '[{"key": "VARCHAR", "value": "VARCHAR"}]',
    }
    for name, shape in lists.items():
        actual = next((c for c in columns if c.lower() == name), None)
        if actual:
            text = _pyjson(quote(actual))
            replace.append(
                f"CASE WHEN json_valid({text}) THEN from_json({text}, {sql_str(shape)}) END "
                f"AS {quote(actual)}"
            )
    extra = ", ".join(exprs)
    rep = f" REPLACE ({', '.join(replace)})" if replace else ""
    return f"*{rep}" + (f", {extra}" if extra else "")


def _pyjson(col: str) -> str:
    """A list written as JSON or as a Python literal ([{'amount': -1.5, 'id': None}])."""
    text = f"CAST({col} AS VARCHAR)"
    return (
        f"CASE WHEN starts_with(trim({text}), '[{{\"') OR trim({text}) = '[]' THEN {text} "
        f"ELSE regexp_replace(regexp_replace(regexp_replace(replace({text}, '''', '\"'), "
        "'\\bNone\\b', 'null', 'g'), '\\bTrue\\b', 'true', 'g'), '\\bFalse\\b', 'false', 'g') END"
    )


def _scan_sql(
    kind: str,
    files: Sequence[str],
    *,
    fmt: str = "",
    header: list[str] | None = None,
    mixed: bool = False,
    numbered: bool = True,
) -> str:
    """The source rows plus __file and __row (the data row number; NULL when not numbered).

    Numbering a CSV or JSON scan takes a window, row_number() OVER (), which reads the file
    in one thread and holds it: the one-pass aggregation does without it, and only the
    pass that locates a bad row pays it (see Part.aggregate_sql)."""
    if kind == "parquet":
        listing = "[" + ", ".join(sql_str(f) for f in files) + "]"
        return (
            f"(SELECT * EXCLUDE (filename, file_row_number), filename AS __file, "
            f"file_row_number + 1 AS __row FROM read_parquet({listing}, filename=true, "
            "file_row_number=true, union_by_name=true))"
        )
    (only,) = files
    if kind == "csv":
        reader = _csv_reader(only, header or [], fmt, mixed)
        select = _gcp_struct_columns(header or []) if fmt == "gcp_billing_export" else "*"
    else:
        reader = _json_scan(only)
        select = "*"
    # insertion order is preserved for one file, so row_number() is the data row number
    row = "row_number() OVER ()" if numbered else "CAST(NULL AS BIGINT)"
    return f"(SELECT {select}, {sql_str(only)} AS __file, {row} AS __row FROM {reader})"


def _describe(con: duckdb.DuckDBPyConnection, scan_sql: str, where: str) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {scan_sql}").fetchall()
    except Exception as exc:
        raise _error(f"cannot read the file ({_first_line(exc)})", resource=where) from exc
    return {r[0]: str(r[1]) for r in rows if r[0] not in ("__file", "__row")}


def money_sql(col: str, duck_type: str) -> str:
    """A source value as money by the strict number rule (NULL if it breaks the rule)."""
    t = duck_type.upper()
    if t.startswith(_NUMERIC):
        return f"TRY_CAST({col} AS {focus.MONEY_SQL})"
    text = f"json_extract_string({col}, '$')" if t == "JSON" else f"trim(CAST({col} AS VARCHAR))"
    return (
        f"CASE WHEN regexp_full_match({text}, '{NUMBER_RE}') "
        f"THEN TRY_CAST({text} AS {focus.MONEY_SQL}) END"
    )


def timestamp_sql(col: str, duck_type: str) -> str:
    """ISO 8601 (offset or 'Z' or ' UTC' -> UTC) or epoch seconds (BigQuery JSON)."""
    if duck_type.upper().startswith(_TEMPORAL):
        return f"CAST({col} AS TIMESTAMP)"
    text = f"trim(CAST({col} AS VARCHAR))"
    return (
        f"COALESCE(CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP), "
        f"CASE WHEN regexp_full_match({text}, '[0-9]{{9,}}([.][0-9]+)?([eE][+-]?[0-9]+)?') "
        f"THEN CAST(to_timestamp(CAST({text} AS DOUBLE)) AS TIMESTAMP) END)"
    )


@cache
def provider_names() -> dict[str, tuple[str, str]]:
    """Lower-case provider name -> (provider id, display name), from providers.csv."""
    return {r["name"].lower(): (r["id"], r["display"]) for r in focus.mapping_rows("providers.csv")}


def provider_id(name: str) -> str:
    key = name.strip().lower()
    if key in provider_names():
        return provider_names()[key][0]
    return re.sub(r"[^a-z0-9]+", "-", key).strip("-") or key


def display_name(pid: str) -> str:
    for ident, display in provider_names().values():
        if ident == pid:
            return display
    return pid


def provider_sql(col: str) -> str:
    key = f"lower(trim(CAST({col} AS VARCHAR)))"
    whens = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v[0])}" for k, v in provider_names().items())
    slug = f"trim(regexp_replace({key}, '[^a-z0-9]+', '-', 'g'), '-')"
    return f"CASE {key} {whens} ELSE {slug} END"


def _tags_sql(prefixes: Sequence[str], columns: dict[str, str]) -> str | None:
    """Tag columns (`resourceTags/user:team`, `resource_tags_user_team`) as one JSON object;
    the `user:`/`user_` prefix is dropped, empty values are no tag."""
    entries = []
    for prefix in prefixes:
        for c in columns:
            if c.lower().startswith(prefix.lower()) and len(c) > len(prefix):
                key = c[len(prefix) :]
                for user in ("user:", "user_"):
                    if key.startswith(user):
                        key = key[len(user) :]
                entries.append(f"{{'key': {sql_str(key)}, 'value': CAST({quote(c)} AS VARCHAR)}}")
    if not entries:
        return None
    listing = "[" + ", ".join(entries) + "]"
    return (
        f"CAST(to_json(map_from_entries(list_filter({listing}, "
        "lambda e: e.value IS NOT NULL AND e.value <> ''))) AS VARCHAR)"
    )


_PLACEHOLDER = re.compile(r"\{(money|text):([^}]+)\}")


def azure_dataset(
    con: duckdb.DuckDBPyConnection, scan: str, columns: dict[str, str], path: str
) -> str:
    """'amortized' or 'actual' for an Azure cost export (see docs/cost.md).

    The file name decides when it says (Cost Management names exports ...ActualCost... /
    ...AmortizedCost...); else the rows: amortized exports carry the reservation and
    savings-plan usage at its amortized cost (Cost <> 0 with PricingModel Reservation or
    SavingsPlan) or UnusedReservation/UnusedSavingsPlan rows; actual exports carry that
    usage at 0 and the purchases as ChargeType Purchase.
    """
    name = Path(path).name.lower()
    if "amortized" in name:
        return "amortized"
    if "actual" in name:
        return "actual"
    lower = {c.lower(): c for c in columns}
    charge = lower.get("chargetype")
    model = lower.get("pricingmodel")
    cost = next((lower[c] for c in ("costinbillingcurrency", "cost") if c in lower), None)
    if not charge:
        return "actual"
    conds = [
        f"lower(CAST({quote(charge)} AS VARCHAR)) IN ('unusedreservation', 'unusedsavingsplan')"
    ]
    if model and cost:
        conds.append(
            f"(lower(CAST({quote(model)} AS VARCHAR)) IN ('reservation', 'savingsplan') "
            f"AND lower(CAST({quote(charge)} AS VARCHAR)) = 'usage' "
            f"AND COALESCE({money_sql(quote(cost), columns[cost])}, 0) <> 0)"
        )
    try:
        # EXISTS stops at the first amortized row instead of scanning the whole export
        row = _one(con.execute(f"SELECT EXISTS (SELECT 1 FROM {scan} WHERE {' OR '.join(conds)})"))
    except Exception as exc:
        raise translate_error(exc, path) from exc
    return "amortized" if row and row[0] else "actual"


def build_part(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    kind: str,
    files: Sequence[str],
    *,
    header: list[str] | None = None,
) -> Part:
    """Compile the format's mapping table into a SELECT of FOCUS columns."""
    where = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} files)"
    mixed = kind == "csv" and mixed_line_endings(Path(files[0]))
    scan = _scan_sql(kind, files, fmt=fmt, header=header, mixed=mixed)
    columns = _describe(con, scan, where)
    spec = formats()[fmt]
    dataset = azure_dataset(con, scan, columns, files[0]) if spec.datasets == "azure" else ""
    part = Part(fmt, list(files), scan, columns, text_typed=kind != "parquet", dataset=dataset)
    part.header = list(header or [])
    lower = {c.lower(): c for c in columns}
    for c, t in columns.items():
        if t.upper() == "BOOLEAN" and any(
            c.lower() in (s.lower() for s in cm.source_columns)
            for cm in spec.columns
            if cm.kind == "decimal"
        ):
            raise _error(
                f"column '{c}' holds true/false values, not amounts",
                resource=f"{where}:{c}",
                hint="Export amounts as numbers",
            )
    exprs: dict[str, str] = {}
    derived: set[str] = set()  # FOCUS columns computed by an expression over source columns
    money_checked: set[str] = set()

    def fill(template: str, actual: str | None, *, raising: bool = False) -> str:
        def sub(m: re.Match[str]) -> str:
            name = lower.get(m.group(2).lower())
            if name is None:
                return "NULL"
            if m.group(1) == "text":
                return quote(name)
            if part.text_typed and name not in money_checked:
                money_checked.add(name)
                parsed = money_sql(quote(name), columns[name])
                bad = f"({quote(name)} IS NOT NULL AND {parsed} IS NULL)"
                part.checks.append((bad, name, _PROBLEM["decimal"]))
            return money_sql(quote(name), columns[name])

        text = _PLACEHOLDER.sub(sub, template)
        if actual is not None:
            num = money_sql(quote(actual), columns[actual])
            if raising:  # a typed number that does not fit is an error, never NULL
                num = f"CAST({quote(actual)} AS {focus.MONEY_SQL})"
            text = text.replace("{num}", num)
            text = text.replace("{col}", quote(actual))
        return text

    rows: dict[str, list[ColumnMap]] = {}
    for cm in spec.columns:
        if cm.dataset and cm.dataset != dataset:
            continue
        rows.setdefault(cm.focus_column, []).append(cm)
    for focus_col, options in rows.items():
        chosen: ColumnMap | None = None
        actual: str | None = None
        for cm in options:
            if not cm.source_columns:
                chosen = cm
                break
            if cm.kind == "tags":
                tags = _tags_sql(cm.source_columns, columns)
                if tags is not None:
                    exprs[focus_col] = tags
                    chosen = cm
                    break
                continue
            actual = next((lower[c.lower()] for c in cm.source_columns if c.lower() in lower), None)
            if actual is not None:
                chosen = cm
                break
        if chosen is not None and chosen.kind == "tags":
            continue
        if chosen is None:
            last = options[-1]
            if last.required:
                names = [c for o in options for c in o.source_columns]
                also = (
                    f"; also accepted: {', '.join(repr(c) for c in names[1:])}"
                    if len(names) > 1
                    else ""
                )
                raise _error(
                    f"column '{names[0]}' is missing ({spec.title} needs it for FOCUS "
                    f"{focus_col}{also})",
                    resource=where,
                    hint="Export the file with all standard columns",
                )
            exprs[focus_col] = fill(last.fallback, None)
            continue
        if not chosen.source_columns:  # a constant or an expression over other columns
            exprs[focus_col] = fill(chosen.expression or "NULL", None)
            continue
        assert actual is not None
        cm = chosen
        part.source_of[focus_col] = actual
        template = cm.expression or _default_expr(cm.kind, columns[actual])
        if cm.expression:
            derived.add(focus_col)
        typed = _already_typed(cm.kind, columns[actual])
        exact = typed and (cm.kind == "timestamp" or columns[actual].upper().startswith("DECIMAL"))
        # a typed number can only break the rule by overflowing: the amounts the comparison
        # sums are checked row by row (the error names the row); the others are cast so
        # that an overflow is an error when the rows are written (never NULL)
        raising = typed and cm.kind == "decimal" and focus_col not in _SUMMED
        exact = exact or raising
        exprs[focus_col] = fill(template, actual, raising=raising)
        if cm.kind in ("decimal", "timestamp") and not exact:
            # the parsed value is computed once (see _stage); the check reads it by name
            parsed = quote("__f_" + focus_col)
            if cm.kind == "decimal" and cm.expression:
                parsed = money_sql(quote(actual), columns[actual])
            bad = f"({quote(actual)} IS NOT NULL AND {parsed} IS NULL)"
            part.checks.append((bad, actual, _PROBLEM[cm.kind]))
            money_checked.add(actual)
        needed = ("decimal", "timestamp", "currency", "charge", "service", "provider")
        if cm.required and cm.kind in needed:
            part.checks.append((f"({quote(actual)} IS NULL)", actual, _REQUIRED))
    # a money column the analysis needs must come out of every row (e.g. the EffectiveCost of
    # a Savings Plan line needs savingsPlan/SavingsPlanEffectiveCost)
    for col in ("BilledCost", "EffectiveCost"):
        if col == "BilledCost" and not part.has_billed:
            continue
        # a plain source column is covered by its own checks (number rule, required)
        if col not in derived:
            continue
        if col in exprs and exprs[col] != "NULL":
            source = part.source_of.get(col, col)
            part.checks.append((f"({quote('__f_' + col)} IS NULL)", source, _UNCOMPUTABLE[col]))
    if fmt == "focus":
        missing = [c for c in focus.FOCUS_MANDATORY if c.lower() not in lower]
        if "ServiceProviderName".lower() in lower or "ProviderName".lower() in lower:
            missing = [c for c in missing if c != "ProviderName"]
        if missing:
            part.warnings.append(
                f"{where}: FOCUS mandatory columns missing (not needed for the comparison, "
                f"read without them): {', '.join(missing)}"
            )
    if kind == "parquet" and part.checks:
        # parquet footers count nulls per column: check only columns that have some
        listing = "[" + ", ".join(sql_str(f) for f in files) + "]"
        rows_ = con.execute(
            f"SELECT path_in_schema, SUM(stats_null_count), COUNT(*) - COUNT(stats_null_count) "
            f"FROM parquet_metadata({listing}) GROUP BY 1"
        ).fetchall()
        clean = {r[0] for r in rows_ if r[1] == 0 and r[2] == 0}
        part.checks = [c for c in part.checks if not (c[2] == _REQUIRED and c[1] in clean)]
    staged, computed = _stage(exprs, scan)
    part.staged_sql = staged
    part.explicit = "ServiceCategory" in exprs
    part.inner_sql = _inner(
        fmt, computed, explicit_category=part.explicit, scan=staged, checks=part.checks
    )
    if kind == "parquet":  # parquet row numbers are a free virtual column
        part.aggregate_sql = part.inner_sql
    else:
        plain = _scan_sql(kind, files, fmt=fmt, header=header, mixed=mixed, numbered=False)
        part.aggregate_sql = _inner(
            fmt,
            computed,
            explicit_category=part.explicit,
            scan=_stage(exprs, plain)[0],
            checks=part.checks,
        )
    part.select_sql = _select(part.inner_sql)
    return part


_PROBLEM = {"decimal": "is not a number", "timestamp": "is not a date"}
_SUMMED = ("BilledCost", "EffectiveCost", "x_Credits")
_REQUIRED = "empty: a value is required"
_UNCOMPUTABLE = {
    "BilledCost": "gives no BilledCost for this row (a column it needs is empty)",
    "EffectiveCost": (
        "gives no EffectiveCost for this row: its line item type needs a column that is "
        "empty or missing (Savings Plan usage: savingsPlan/SavingsPlanEffectiveCost; reserved "
        "usage: reservation/EffectiveCost)"
    ),
}


def _default_expr(kind: str, duck_type: str) -> str:
    if kind == "decimal":
        return "{num}"
    if kind == "timestamp":
        return timestamp_sql("{col}", duck_type)
    if kind == "provider":
        return provider_sql("{col}")
    return {
        "text": "CAST({col} AS VARCHAR)",
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
    charges = focus.mapping_rows("charge_categories.csv")
    keys = {"api": "api", **{f.name: f.charges for f in formats().values()}}
    charge_rows = [
        {"source": fmt, "source_value": r["source_value"], "ChargeCategory": r["ChargeCategory"]}
        for fmt, key in keys.items()
        for r in charges
        if r["source"] == key
    ]
    tables = {
        "__charge_map": (charge_rows, ("source", "source_value", "ChargeCategory")),
        "__service_map": (
            focus.mapping_rows("services.csv"),
            ("provider", "source_service", "ServiceName", "ServiceCategory"),
        ),
        "__currencies": ([{"code": c} for c in sorted(focus.currencies())], ("code",)),
    }
    for name, (rows, cols) in tables.items():
        # one list parameter, unnested: DuckDB parses a few hundred VALUES rows of SQL
        # text about ten times slower, and every cost-compare pays this at start
        shape = ", ".join(f"{quote(c)} VARCHAR" for c in cols)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS "
            f"SELECT unnest(?::STRUCT({shape})[], recursive := true)",
            [[{c: r[c] for c in cols} for r in rows]],
        )


# --------------------------------------------------------------------------- errors
_LINE = re.compile(r"CSV Error on Line: (\d+)")
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_FILE = re.compile(r"file = (.+)")


def translate_error(exc: BaseException, default_file: str | None = None) -> Exception:
    """A DuckDB read error as a CostInputError naming file, row and column (never its text)."""
    if isinstance(exc, CostInputError):
        return exc
    text = str(exc)
    file_m = _FILE.search(text)
    file = file_m.group(1).strip() if file_m else (default_file or "the billing data")
    line_m = _LINE.search(text)
    counts = _COUNTS.search(text)
    if line_m:
        line = int(line_m.group(1))
        row = max(line - 1, 1)
        if counts:
            expected, found = int(counts.group(1)), int(counts.group(2))
            column = ""
            try:
                header = csv_header(Path(file))[0]
                if found < expected and found < len(header):
                    column = f", column '{header[found]}'"
            except Exception:
                pass
            if found < expected:
                why = f"the row ends after {found} of its {expected} columns"
                hint = "The file looks cut short: download or export it again"
            else:
                why = f"the row has {found} values for {expected} columns"
                hint = "Quote values that contain commas (RFC 4180), or export the file again"
            return _error(
                f"file {file}, row {row}{column}: {why}", resource=f"{file}:{row}", hint=hint
            )
        return _error(
            f"file {file}, row {row}: the CSV is malformed there (unbalanced quotes or mixed "
            "line endings)",
            resource=f"{file}:{row}",
            hint="Export the file again, or convert its line endings (e.g. dos2unix)",
        )
    if "unterminated quote" in text.lower():
        return _error(
            f"file {file}: a quoted value is not closed (the file looks cut short)",
            resource=file,
            hint="Download or export it again",
        )
    if "Out of Range" in text or "overflow" in text.lower() or "Could not cast value" in text:
        return _error(
            f"{file}: an amount is out of range (a line amount must be below 10^9, a total "
            "below 10^29)",
            resource=file,
        )
    return _error(f"{file}: cannot read the billing data ({_first_line(exc)})", resource=file)


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
    try:
        row = _one(con.execute(sql))
    except Exception as exc:
        raise translate_error(exc, part.files[0]) from exc
    if row is None:
        return
    file, rownum, index = row
    _, col, problem = checks[index]
    value = None
    if col in part.columns:
        value = _one(
            con.execute(
                f"SELECT CAST({quote(col)} AS VARCHAR) FROM {part.scan_sql} "
                "WHERE __file = ? AND __row = ?",
                [file, rownum],
            )
        )
    shown = "" if value is None or value[0] is None else f"'{value[0]}' "
    hint = None
    if problem == _PROBLEM["decimal"] and value and value[0] is not None:
        text = value[0].strip()
        if re.fullmatch(NUMBER_RE, text):
            problem = f"is out of range (a line amount must be at most {MONEY_MAX})"
        else:
            hint = (
                "Write amounts as plain numbers: digits, one '.' and an optional exponent "
                "(no '_', thousands separators, true/false or NaN)"
            )
    raise _error(
        f"file {file}, row {rownum}, column '{col}': {shown}{problem}",
        resource=f"{file}:{rownum}:{col}",
        hint=hint,
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
        row = _one(con.execute(sql))
        if row is not None:
            file, rownum, value, _ = row
            col = part.source_of.get(focus_col, focus_col)
            if col in part.columns:  # show the value as the file has it
                raw = _one(
                    con.execute(
                        f"SELECT CAST({quote(col)} AS VARCHAR) FROM {part.scan_sql} "
                        "WHERE __file = ? AND __row = ?",
                        [file, rownum],
                    )
                )
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
RECORD_FORMATS = {"aws": "aws", "gcp": "gcp_billing_export", "azure": "azure_cost_export"}


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
