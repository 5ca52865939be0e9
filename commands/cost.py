"""`specify cloud cost`: compare costs across providers and billing export files.

With no --source and no --provider, the seeded sample exports (AWS CUR 2.0, GCP export,
Azure export) are generated and compared: the embedded default, labelled as sample data in
every output. The flags become one providers.cost.options.CompareOptions, which both the
direct run and `--prefect` (the cost-compare flow) use.
"""

from __future__ import annotations

import csv
import sys
from decimal import Decimal
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from commands.app import cloud
from commands.output import cli_errors, console, emit_json, err_console
from providers.base import CloudStorage

FORMATS = ("table", "json", "csv")


@cloud.command("cost")
@cli_errors
def cost(
    date_from: str = typer.Option(None, "--from", help="First day (YYYY-MM-DD), inclusive"),
    date_to: str = typer.Option(None, "--to", help="Last day (YYYY-MM-DD), exclusive"),
    provider: list[str] = typer.Option([], "--provider", help="Fetch from a provider's API"),
    source: list[str] = typer.Option(
        [], "--source", help="Billing export file/dir/glob or storage URL (repeatable)"
    ),
    group_by: str = typer.Option(
        "category", "--group-by", help="category|service|region|charge|tag:KEY"
    ),
    fmt: str = typer.Option("table", "--format", help="table|json|csv"),
    report: str = typer.Option(None, "--report", help="Write HTML + parquet + JSON here"),
    sample: bool = typer.Option(False, "--sample", help="Compare the generated sample exports"),
    rates: str = typer.Option(None, "--rates", help="Exchange rates CSV: CURRENCY,RATE"),
    currency: str = typer.Option(None, "--currency", help="Report currency (with --rates)"),
    measure: str = typer.Option(
        "auto",
        "--measure",
        help="billed (BilledCost), effective (EffectiveCost, amortized) or auto: billed "
        "unless a source gives only EffectiveCost (an Azure amortized export)",
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail if any provider fails"),
    optional: list[str] = typer.Option(
        [],
        "--optional",
        help="A provider or source that may be missing without failing the run (repeatable); "
        "any other missing one is reported and exits 1, as the flow ends Failed",
    ),
    prefect: bool = typer.Option(
        False, "--prefect", help="Run the cost-compare flow (recorded on the Prefect server)"
    ),
) -> None:
    """Compare cloud costs: totals, breakdown, trend, cheapest, anomalies, recommendations."""
    from providers.cost.options import CompareOptions

    if fmt not in FORMATS:
        from commands.output import bad_input

        bad_input("--format", f"'{fmt}' is not one of {', '.join(FORMATS)}")
    options = CompareOptions.build(
        start=date_from,
        end=date_to,
        sources=source,
        providers=provider,
        group_by=group_by,
        rates_file=rates,
        currency=currency,
        measure=measure,
        strict=strict,
        sample=sample,
        output=report,
    )
    if prefect:
        _run_flow(options, fmt, optional)
        return

    from providers.cost.analyzer import run_comparison

    comparison, frame = run_comparison(options, opener=_open_location)
    written: dict[str, str] = {}
    try:
        if report:
            from providers.cost.report import write_report

            written = write_report(
                comparison, frame, report, group_by=options.group_by, opener=_open_location
            )
    finally:
        frame.close()
    # the same rule as the flow's Failed state: a missing provider fails the run unless
    # it was named optional (the comparison of the others is still shown)
    not_optional = {p: why for p, why in comparison.missing.items() if p not in set(optional)}
    try:
        _show(comparison, written, options, fmt)
    finally:
        if not_optional:
            for p, why in not_optional.items():
                err_console.print(
                    f"[red]missing[/] {escape(p)}: {escape(why)} (pass --optional {escape(p)} "
                    "to allow it)",
                    highlight=False,
                )
            raise typer.Exit(1)


def _show(comparison: Any, written: dict[str, str], options: Any, fmt: str) -> None:
    """Print the comparison as --format asks."""
    group = options.group_by
    breakdown = comparison.breakdown(group)
    if fmt == "json":
        data = comparison.to_dict()
        data["group_by"] = group
        data["breakdown"] = data["by_tag"]["values"] if options.tag_key else data[f"by_{group}"]
        data["report"] = written
        emit_json(data)
        return
    if fmt == "csv":
        out = csv.writer(sys.stdout)
        # every row says whether it is generated sample data
        out.writerow([group, "provider", "amount", "currency", "measure", "sample"])
        flag = "true" if comparison.sample else "false"
        for key, per in breakdown.items():
            for p, amount in per.items():
                out.writerow(
                    [key, p, f"{amount:.2f}", comparison.currency, comparison.measure, flag]
                )
        return
    _print_tables(comparison, breakdown, group)
    for name, where in written.items():
        console.print(f"wrote {name}: {where}")


def _run_flow(options: Any, fmt: str, optional: list[str]) -> None:
    """The same comparison as a Prefect flow run, with every option; prints its totals."""
    from flows.cost_compare import cost_compare
    from flows.params import CostOptions

    flow_options = CostOptions.model_validate(
        {
            "group_by": options.group_by,
            "rates": options.rates_text() or None,
            "currency": options.currency,
            "measure": options.measure,
        }
    )
    state = cost_compare(
        start=options.start,
        end=options.end,
        sources=list(options.sources),
        providers=list(options.providers),
        output=options.output,
        options=flow_options,
        strict=options.strict,
        sample=options.sample,
        optional=list(optional),
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
    label = f"{data['label']}: " if data.get("label") else ""
    table = Table(title=f"{label}Totals ({data['measure']}, {data['currency']})")
    table.add_column("provider")
    table.add_column("total", justify="right")
    for p, amount in data["totals"].items():
        table.add_row(p, f"{Decimal(amount):,.2f}")
    console.print(table)
    for p, why in data["missing"].items():
        console.print(f"[red]missing[/] {escape(p)}: {escape(why)}")
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
    label = "SAMPLE DATA: " if comparison.sample else ""
    if comparison.sample:
        console.print(f"[bold yellow]{comparison.label}[/]")
    for s in comparison.sources:
        files = s["files"]
        shown = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} files)"
        console.print(f"read {escape(shown)} as {escape(s['title'])}", highlight=False)
    for w in comparison.warnings:
        err_console.print(f"[yellow]warning[/] {escape(w)}", highlight=False)
    for n in comparison.notes:
        console.print(f"[cyan]note[/] {escape(n)}", highlight=False)
    table = Table(title=f"{label}Costs by {group_by} ({comparison.measure}, {cur})")
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
    cheap = Table(title=f"{label}Cheapest per comparable category")
    for col in ("category", "cheapest", "basis"):
        cheap.add_column(col)
    for cat, r in comparison.cheapest.items():
        if r["comparable"]:
            cheap.add_row(cat, r["provider"], f"{r['basis']} per {r['unit']}")
        else:
            cheap.add_row(cat, "not comparable", escape(r["reason"]))
    overall = comparison.cheapest_overall
    if overall:
        if overall["comparable"]:
            cheap.add_row("[bold]overall[/]", f"[bold]{overall['provider']}[/]", overall["basis"])
        else:
            cheap.add_row("[bold]overall[/]", "not comparable", escape(overall["reason"]))
    console.print(cheap)
    for a in comparison.anomalies:
        console.print(
            f"[yellow]anomaly[/] {a['provider']} {escape(a['service'])} {a['day']}: "
            f"{cents(a['cost']):,.2f} (was {cents(a['previous']):,.2f}, "
            f"+{cents(a['increase']):,.2f} {cur})"
        )
    for f in comparison.forecast.items():
        console.print(f"forecast {f[0]} {f[1]['month']}: {cents(f[1]['forecast']):,.2f} {cur}")
    for rec in comparison.recommendations:
        console.print(
            f"[green]save {cents(rec.monthly_saving):,.2f}/month[/] {rec.provider}: "
            f"{escape(rec.title)}"
        )
    for p, why in comparison.missing.items():
        console.print(f"[red]missing[/] {escape(p)}: {escape(why)}")
