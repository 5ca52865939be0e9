"""`specify cloud replicate | download | verify`: replication, failover reads and checks.

The engine (providers.replication) runs in this process by default; `--prefect` runs the
`replicate` flow instead so the run is recorded on the Prefect server. Prefect is imported
only then (and for `block:` locations).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from commands.app import cloud
from commands.locations import location_arg, locations_option, open_source, open_store
from commands.output import (
    EXIT_FAILED,
    bad_input,
    cli_errors,
    console,
    emit_json,
    err_console,
)

if TYPE_CHECKING:
    from providers.locations import Location
    from providers.replication import ProgressEvent, ReplicationOptions


def _join(prefix: str, extra: str) -> str:
    extra = extra.strip("/")
    if not extra:
        return prefix
    return f"{prefix.rstrip('/')}/{extra}" if prefix else extra


class _Bars:
    """One Rich progress bar per target: objects, bytes, rate, ETA (thread-safe updates)."""

    def __init__(self, targets: list[str]) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[done]}/{task.fields[objects]} objects"),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.names = targets

    def __enter__(self) -> _Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def __call__(self, ev: ProgressEvent) -> None:
        if ev.event == "planned":  # sent as planning streams on: totals grow
            known = self.tasks.get(ev.target)
            if known is None:
                self.tasks[ev.target] = self.progress.add_task(
                    ev.target, total=ev.nbytes or None, done=0, objects=ev.objects
                )
            else:
                t = self.progress.tasks[known]
                self.progress.update(
                    known,
                    total=(t.total or 0) + ev.nbytes or None,
                    objects=t.fields.get("objects", 0) + ev.objects,
                )
            return
        task = self.tasks.get(ev.target)
        if task is None:
            return
        if ev.event == "bytes":
            self.progress.advance(task, ev.nbytes)
        elif ev.event in ("copied", "failed"):
            done = self.progress.tasks[task].fields["done"] + 1
            self.progress.update(task, done=done)
        elif ev.event == "done":
            t = self.progress.tasks[task]
            self.progress.update(task, total=t.completed or t.total or 0)


def _report_table(reports: list[dict[str, Any]]) -> None:
    table = Table(title="Replication")
    for col in ("target", "copied", "skipped", "failed", "deleted", "bytes copied", "status"):
        table.add_column(
            col, justify="right" if col not in ("target", "status") else "left", overflow="fold"
        )
    for r in reports:
        if r["dry_run"]:
            status = f"dry run: would copy {r['to_copy']}, delete {r['to_delete']}"
        else:
            status = "[green]ok[/]" if r["ok"] else "[red]failed[/]"
        table.add_row(
            str(r["target"]),
            str(r["copied"]),
            str(r["skipped"]),
            str(r["failed"]),
            str(r["deleted"]),
            f"{r['bytes_copied']:,}",
            status,
        )
    console.print(table)
    for r in reports:
        if r["error"]:
            err_console.print(f"[red]{r['target']}[/]: {r['error']}", highlight=False)
        for key, msg in list(r["errors"].items())[:20]:
            err_console.print(f"[red]{r['target']}[/] {key!r}: {msg}", highlight=False)
        if len(r["errors"]) > 20:
            err_console.print(f"... and {len(r['errors']) - 20} more failures")


@cloud.command("replicate")
@cli_errors
def replicate(
    src: str = typer.Argument(..., help="Source location, e.g. s3://bucket/prefix or ./dir"),
    to: str = typer.Option(..., "--to", help="Target locations, comma-separated"),
    prefix: str = typer.Option("", "--prefix", help="Only keys under this prefix"),
    include: list[str] = typer.Option([], "--include", help="Glob of keys to include"),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob of keys to exclude"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan only; write nothing"),
    delete: bool = typer.Option(False, "--delete", help="Delete target objects not in source"),
    max_delete: int | None = typer.Option(
        None, "--max-delete", help="Allow up to N deletes (default: at most half the target)"
    ),
    allow_empty_source: bool = typer.Option(
        False, "--allow-empty-source", help="Let --delete run when the source lists nothing"
    ),
    transfers: int = typer.Option(8, "--transfers", help="Objects in flight at once"),
    bwlimit: str = typer.Option("", "--bwlimit", help="Bandwidth limit, e.g. 10M (bytes/s)"),
    state_dir: str | None = typer.Option(None, "--state-dir", help="Where journals live"),
    checksum: bool = typer.Option(
        False,
        "--checksum",
        help="Compare sha256 of every same-size object instead of trusting the journal's "
        "verified copy when size, etag and the source's version are unchanged",
    ),
    json_output: bool = typer.Option(False, "--json", help="JSON report"),
    prefect: bool = typer.Option(False, "--prefect", help="Run as the Prefect flow"),
) -> None:
    """Copy what differs from SRC to each target (by size and sha256), verifying each copy."""
    from providers.errors import ConfigurationError
    from providers.replication import ReplicationOptions, parse_size

    source = location_arg("SRC", src)
    targets = locations_option("--to", to)
    if transfers < 1:
        bad_input("--transfers", "must be at least 1")
    if max_delete is not None and max_delete < 0:
        bad_input("--max-delete", "may not be negative")
    try:
        limit = parse_size(bwlimit)
    except ConfigurationError as exc:
        bad_input("--bwlimit", str(exc))
    options = ReplicationOptions(
        include=tuple(include),
        exclude=tuple(exclude),
        dry_run=dry_run,
        delete_extraneous=delete,
        max_delete=max_delete,
        allow_empty_source=allow_empty_source,
        transfers=transfers,
        bandwidth_limit=limit,
        journal_dir=state_dir,
        checksum=checksum,
    )
    if prefect:
        reports = _run_flow(str(source), [str(t) for t in targets], prefix, options)
    else:
        reports = _run_engine(source, targets, prefix, options, show=not json_output)
    if json_output:
        emit_json({"source": src, "targets": reports})
    else:
        _report_table(reports)
    if not all(r["ok"] for r in reports):
        raise typer.Exit(EXIT_FAILED)


def _run_engine(
    src: Location, targets: list[Location], prefix: str, options: ReplicationOptions, show: bool
) -> list[dict[str, Any]]:
    from providers.replication import replicate_prefix

    source, sprefix = open_source("SRC", src)
    opened = []
    for target in targets:
        storage, tprefix = open_store(target)
        opened.append((storage, _join(tprefix, prefix)))
    if show and sys.stderr.isatty():
        with _Bars([str(t) for t in targets]) as bars:
            reports = replicate_prefix(source, _join(sprefix, prefix), opened, options, bars)
    else:
        reports = replicate_prefix(source, _join(sprefix, prefix), opened, options)
    return [r.as_dict() for r in reports]


def _run_flow(
    src: str, targets: list[str], prefix: str, options: ReplicationOptions
) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from flows.replicate import replicate as replicate_flow

    state = replicate_flow(
        source=src,
        targets=targets,
        prefix=prefix,
        options=asdict(options),
        return_state=True,
    )
    result: Any = state.result(raise_on_failure=False)
    if isinstance(result, list):
        return result
    # the flow failed: its failure says which targets; reports ride on the exception
    reports = getattr(result, "reports", None)
    if reports is not None:
        return list(reports)
    raise result if isinstance(result, BaseException) else RuntimeError(str(result))


@cloud.command("download")
@cli_errors
def download(
    key: str = typer.Argument(..., help="Object key"),
    dest: Path = typer.Argument(..., help="Local file (or directory) to write"),
    from_: str = typer.Option(..., "--from", help="Stores in failover order, comma-separated"),
    json_output: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Download KEY from the first store that serves it, failing over in order."""
    from providers.multicloud import UnifiedCloudStorage

    stores = [open_store(t) for t in locations_option("--from", from_)]
    unified = UnifiedCloudStorage(stores[0], stores[1:])
    target = dest / key.rsplit("/", 1)[-1] if dest.is_dir() else dest
    path, served_by = unified.download_from(key, target)
    if json_output:
        emit_json({"key": key, "path": str(path), "served_by": served_by})
    else:
        console.print(f"{key} -> {path} (from {served_by})", highlight=False)


@cloud.command("verify")
@cli_errors
def verify(
    src: str = typer.Argument(..., help="Source location"),
    to: str = typer.Option(..., "--to", help="Target locations, comma-separated"),
    prefix: str = typer.Option("", "--prefix", help="Only keys under this prefix"),
    include: list[str] = typer.Option([], "--include", help="Glob of keys to include"),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob of keys to exclude"),
    transfers: int = typer.Option(8, "--transfers", help="Objects hashed at once"),
    download: bool = typer.Option(
        False, "--download", help="Compare bytes where the two sides share no hash"
    ),
    json_output: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Compare SRC with each target by the strongest hash both have: missing / differ /
    match, and which hash decided per object. Exit 1 on any gap."""
    from providers.replication import ReplicationOptions, verify_prefix

    source_loc = location_arg("SRC", src)
    target_locs = locations_option("--to", to)
    source, sprefix = open_source("SRC", source_loc)
    targets = [open_store(t) for t in target_locs]
    options = ReplicationOptions(
        include=tuple(include), exclude=tuple(exclude), transfers=max(1, transfers)
    )
    reports = verify_prefix(
        source,
        _join(sprefix, prefix),
        [(s, _join(p, prefix)) for s, p in targets],
        options,
        download=download,
    )
    rows = [
        {
            "target": r.target,
            "ok": r.ok,
            "missing": r.count("missing"),
            "differ": r.count("differ"),
            "match": r.match,
            "extra": r.count("extra"),
            "missing_keys": list(r.missing),
            "differ_keys": list(r.differ),
            "unchecked_keys": list(r.unchecked),
            "compared_by": dict(r.compared_by),
            # the *_keys lists and compared_by name the first 10,000 keys of each kind
            "truncated": list(r.truncated),
            "error": r.error,
        }
        for r in reports
    ]
    if json_output:
        emit_json({"source": src, "targets": rows})
    else:
        table = Table(title="Verify")
        for col in ("target", "missing", "differ", "match", "extra"):
            table.add_column(col, justify="left" if col == "target" else "right")
        for row in rows:
            table.add_row(*(str(row[c]) for c in ("target", "missing", "differ", "match", "extra")))
        console.print(table)
        for r in reports:
            for k in r.missing[:20]:
                err_console.print(f"missing on {r.target}: {k!r}", highlight=False)
            for k in r.differ[:20]:
                err_console.print(f"differs on {r.target}: {k!r}", highlight=False)
            if r.truncated:
                err_console.print(
                    f"{r.target}: only the first keys of {', '.join(r.truncated)} are listed "
                    "(the counts are complete)",
                    highlight=False,
                )
            if r.error:
                err_console.print(f"[red]{r.target}[/]: {r.error}", highlight=False)
    if not all(r.ok for r in reports):
        raise typer.Exit(EXIT_FAILED)
