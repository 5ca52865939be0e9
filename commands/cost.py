"""`specify cloud cost`: compare costs across providers and billing export files.

With no --source and no --provider, the seeded sample exports (AWS CUR 2.0, GCP export,
Azure export) are generated and compared: the embedded default.
"""

from __future__ import annotations

import csv
import sys
from datetime import date, timedelta

import typer
from rich.table import Table

from commands.app import cloud
from commands.output import bad_input, cli_errors, console, emit_json
from providers.base import CloudStorage

GROUPS = ("category", "service", "region", "charge")
FORMATS = ("table", "json", "csv")


def _parse_date(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        bad_input(option, f"'{text}' is not a date (use YYYY-MM-DD)")


@cloud.command("cost")
@cli_errors
def cost(
    date_from: str = typer.Option(None, "--from", help="First day (YYYY-MM-DD), inclusive"),
    date_to: str = typer.Option(None, "--to", help="Last day (YYYY-MM-DD), exclusive"),
    provider: list[str] = typer.Option([], "--provider", help="Fetch from a provider's API"),
    source: list[str] = typer.Option(
        [], "--source", help="Billing export file/dir/glob or storage URL (repeatable)"
    ),
    group_by: str = typer.Option("category", "--group-by", help="category|service|region|tag:KEY"),
    fmt: str = typer.Option("table", "--format", help="table|json|csv"),
    report: str = typer.Option(None, "--report", help="Write HTML + parquet + JSON here"),
    sample: bool = typer.Option(False, "--sample", help="Compare the generated sample exports"),
    rates: str = typer.Option(None, "--rates", help="Exchange rates CSV: CURRENCY,RATE"),
    currency: str = typer.Option(None, "--currency", help="Report currency (with --rates)"),
    strict: bool = typer.Option(False, "--strict", help="Fail if any provider fails"),
    prefect: bool = typer.Option(
        False, "--prefect", help="Run the cost-compare flow (recorded on the Prefect server)"
    ),
) -> None:
    """Compare cloud costs: totals, breakdown, trend, cheapest, anomalies, recommendations."""
    start = _parse_date("--from", date_from)
    end = _parse_date("--to", date_to)
    if start and end and end <= start:
        bad_input("--to", f"{end} is not after --from {start}")
    if fmt not in FORMATS:
        bad_input("--format", f"'{fmt}' is not one of {', '.join(FORMATS)}")
    tag_key = group_by[4:] if group_by.startswith("tag:") else None
    if group_by not in GROUPS and not tag_key:
        bad_input("--group-by", f"'{group_by}' is not one of {', '.join(GROUPS)}, tag:KEY")
    if provider and (start is None or end is None):
        bad_input("--from" if start is None else "--to", "required with --provider")

    if prefect:
        _run_flow(start, end, list(source), list(provider), group_by, fmt, report, sample, strict)
        return

    from providers.cost.analyzer import read_rates, run_comparison

    sources = list(source)
    workdir = None
    if sample or (not sources and not provider):
        from providers.cost import sample as sample_mod
        from providers.cost.sources import tempdir

        first = start or (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        last = end or (first + timedelta(days=32)).replace(day=1)
        workdir = tempdir()
        sample_mod.generate(workdir, start=first, days=max((last - first).days, 7))
        sources.append(str(workdir))
    try:
        comparison, frame = run_comparison(
            sources=sources,
            providers=list(provider),
            start=start,
            end=end,
            tag_key=tag_key,
            rates=read_rates(rates) if rates else None,
            currency=currency,
            strict=strict,
            opener=_open_location,
        )
        written = {}
        try:
            if report:
                from providers.cost.report import write_report

                written = write_report(
                    comparison, frame, report, group_by=group_by, opener=_open_location
                )
        finally:
            frame.close()
    finally:
        if workdir is not None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)

    breakdown = comparison.breakdown(group_by)
    if fmt == "json":
        data = comparison.to_dict()
        data["group_by"] = group_by
        data["breakdown"] = data["by_tag"]["values"] if tag_key else data[f"by_{group_by}"]
        data["report"] = written
        emit_json(data)
        return
    if fmt == "csv":
        out = csv.writer(sys.stdout)
        out.writerow([group_by, "provider", "amount", "currency"])
        for key, per in breakdown.items():
            for p, amount in per.items():
                out.writerow([key, p, f"{amount:.2f}", comparison.currency])
        return
    _print_tables(comparison, breakdown, group_by)
    for name, where in written.items():
        console.print(f"wrote {name}: {where}")


def _run_flow(
    start: date | None,
    end: date | None,
    sources: list[str],
    providers: list[str],
    group_by: str,
    fmt: str,
    report: str | None,
    sample: bool,
    strict: bool,
) -> None:
    """The same comparison as a Prefect flow run; prints its totals."""
    from flows.cost_compare import cost_compare

    state = cost_compare(
        start=start,
        end=end,
        sources=sources,
        providers=providers,
        output=report,
        options={"group_by": group_by},  # type: ignore[arg-type]
        strict=strict,
        sample=sample,
        return_state=True,
    )
    outcome = state.result(raise_on_failure=False)
    # a run with missing sources ends Failed; the comparison of the others rides along
    data = getattr(outcome, "data", outcome)
    if not isinstance(data, dict):
        raise outcome if isinstance(outcome, BaseException) else RuntimeError(str(outcome))
    failed = state.is_failed()
    if fmt == "json":
        emit_json(data)
        if failed:
            raise typer.Exit(1)
        return
    table = Table(title=f"Totals ({data['currency']})")
    table.add_column("provider")
    table.add_column("total", justify="right")
    for p, amount in data["totals"].items():
        table.add_row(p, f"{amount:,.2f}")
    console.print(table)
    for p, why in data["missing"].items():
        console.print(f"[red]missing[/] {p}: {why}")
    if failed:
        raise typer.Exit(1)


def _open_location(url: str) -> tuple[CloudStorage, str]:
    """Storage for a URL; block:NAME needs Prefect, imported only then."""
    if url.startswith("block:"):
        from blocks import open_location

        return open_location(url)
    from providers.locations import open_location as open_url

    return open_url(url)


def _print_tables(comparison, breakdown, group_by: str) -> None:  # type: ignore[no-untyped-def]
    from providers.cost.analyzer import cents

    cur = comparison.currency
    providers = comparison.providers
    table = Table(title=f"Costs by {group_by} ({cur})")
    table.add_column(group_by)
    for p in providers:
        table.add_column(p, justify="right")
    for key, per in breakdown.items():
        table.add_row(
            key or "(none)", *(f"{cents(per[p]):,.2f}" if p in per else "-" for p in providers)
        )
    table.add_row(
        "[bold]total[/]", *(f"[bold]{cents(comparison.totals[p]):,.2f}[/]" for p in providers)
    )
    table.add_row(
        "of which estimated", *(f"{cents(comparison.estimated[p]):,.2f}" for p in providers)
    )
    console.print(table)
    cheap = Table(title="Cheapest per comparable category")
    for col in ("category", "cheapest", "basis"):
        cheap.add_column(col)
    for cat, r in comparison.cheapest.items():
        cheap.add_row(
            cat, r["provider"], r["basis"] + (f" per {r['unit']}" if r.get("unit") else "")
        )
    overall = comparison.cheapest_overall
    if overall:
        cheap.add_row("[bold]overall[/]", f"[bold]{overall['provider']}[/]", overall["basis"])
    console.print(cheap)
    for a in comparison.anomalies:
        console.print(
            f"[yellow]anomaly[/] {a['provider']} {a['service']} {a['day']}: "
            f"{cents(a['cost'])} (was {cents(a['previous'])})"
        )
    for f in comparison.forecast.items():
        console.print(f"forecast {f[0]} {f[1]['month']}: {cents(f[1]['forecast']):,.2f} {cur}")
    for rec in comparison.recommendations:
        console.print(
            f"[green]save {cents(rec.monthly_saving):,.2f}/month[/] {rec.provider}: {rec.title}"
        )
    for p, why in comparison.missing.items():
        console.print(f"[red]missing[/] {p}: {why}")
