"""Flow `cost-compare`: fetch each provider/source in its own task, then one comparison.

A source or provider that fails (after its task retries) is reported as missing and the
others are still compared, unless strict=True. The analysis itself is
providers.cost.analyzer (the same engine `specify cloud cost` calls directly). Artifacts:
a table per provider (`cost-<provider>`) and a markdown comparison (`cost-comparison`).
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from providers.base import CostRecord
from providers.cost.analyzer import CloudCostAnalyzer, CostComparison, cents
from providers.cost.frame import FocusFrame
from providers.cost.sources import expand_paths, fetch_remote, tempdir
from providers.errors import CloudError


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry what may pass next time; a malformed file or bad credentials will not."""
    try:
        state.result()
    except CloudError as exc:
        return exc.retryable
    except Exception:
        return True
    return False


def _opener() -> Any:
    from blocks import open_location

    return open_location


@task(
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_transient,
    task_run_name="fetch-source-{spec}",
)
def fetch_source(spec: str) -> tuple[list[str], str | None]:
    """Local paths of one source's billing files, checked, and the download directory
    (remote sources) that the flow removes when it is done."""
    workdir = None
    if ("://" in spec and not spec.startswith("file://")) or spec.startswith("block:"):
        workdir = tempdir()
        files = expand_paths(fetch_remote(spec, workdir, _opener()))
    else:
        files = expand_paths(spec.removeprefix("file://"))
    frame = FocusFrame()
    try:
        frame.add_files(files)
        frame.check()
    except Exception:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        frame.close()
    return [str(f) for f in files], str(workdir) if workdir else None


@task(
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_transient,
    task_run_name="fetch-provider-{name}",
)
def fetch_provider(name: str, start: date, end: date, block: bool = False) -> list[CostRecord]:
    """CostRecords from a provider's cost API: a registered provider or a saved block."""
    if block:
        from blocks import load_provider_block

        provider = load_provider_block(name).provider()
    else:
        from providers.registry import get_provider

        provider = get_provider(name)
    return provider.get_cost().get_costs(start, end, "DAILY", ("service",))


@task(task_run_name="analyse")
def analyse(
    files: list[str],
    records: dict[str, list[CostRecord]],
    start: date | None,
    end: date | None,
    missing: dict[str, str],
    tag_key: str | None,
    rates: dict[str, str] | None,
    currency: str | None,
    output: str | None,
    group_by: str,
) -> tuple[CostComparison, dict[str, str]]:
    from pathlib import Path

    frame = FocusFrame(start=start, end=end)
    try:
        if files:
            frame.add_files([Path(f) for f in files])
        for name, recs in records.items():
            frame.add_records(recs, name=f"api:{name}")
        analyzer = CloudCostAnalyzer(
            rates={k: Decimal(v) for k, v in (rates or {}).items()}, currency=currency
        )
        comparison = analyzer.compare(frame, tag_key=tag_key, missing=missing)
        written: dict[str, str] = {}
        if output:
            from providers.cost.report import write_report

            written = write_report(comparison, frame, output, group_by=group_by, opener=_opener())
        return comparison, written
    finally:
        frame.close()


def _remove(folders: list[str]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def publish_artifacts(c: CostComparison, group_by: str, written: dict[str, str]) -> list[str]:
    """A table artifact per provider and one markdown comparison; returns the keys."""
    keys = []
    breakdown = c.breakdown(group_by)
    for p in c.providers:
        rows = [
            {group_by: k, "amount": f"{cents(v[p]):.2f}", "currency": c.currency}
            for k, v in breakdown.items()
            if p in v
        ]
        rows.append(
            {group_by: "TOTAL", "amount": f"{cents(c.totals[p]):.2f}", "currency": c.currency}
        )
        key = _key(f"cost-{p}")
        create_table_artifact(table=rows, key=key, description=f"{p} costs by {group_by}")
        keys.append(key)
    lines = [
        f"# Cloud cost comparison ({c.start} to {c.end}, {c.currency})",
        "",
        "| provider | total | estimated |",
        "| --- | ---: | ---: |",
        *(
            f"| {p} | {cents(c.totals[p]):,.2f} | {cents(c.estimated[p]):,.2f} |"
            for p in c.providers
        ),
        "",
        "| category | cheapest | basis |",
        "| --- | --- | --- |",
        *(f"| {k} | {v['provider']} | {v['basis']} |" for k, v in c.cheapest.items()),
        "",
        f"**Cheapest overall:** {c.cheapest_overall.get('provider', '-')}",
        "",
        "## Recommendations",
        *(
            f"- {cents(r.monthly_saving):,.2f}/month ({r.provider}): {r.title}"
            for r in c.recommendations
        ),
        "",
        "## Anomalies",
        *(f"- {a['provider']} {a['service']} {a['day']}: {cents(a['cost'])}" for a in c.anomalies),
    ]
    if c.missing:
        lines += ["", "## Missing", *(f"- {p}: {why}" for p, why in c.missing.items())]
    if written:
        lines += ["", "## Files", *(f"- {n}: {w}" for n, w in written.items())]
    create_markdown_artifact(markdown="\n".join(lines), key="cost-comparison")
    keys.append("cost-comparison")
    return keys


@flow(name="cost-compare", log_prints=False)
def cost_compare(
    start: str | None = None,
    end: str | None = None,
    sources: list[str] | None = None,
    providers: list[str] | None = None,
    provider_blocks: list[str] | None = None,
    output: str | None = None,
    group_by: str = "category",
    rates: dict[str, str] | None = None,
    currency: str | None = None,
    strict: bool = False,
    sample: bool = False,
) -> dict[str, Any]:
    """Compare costs; returns the comparison as JSON-ready data (amounts rounded to cents).

    start/end: ISO dates (end exclusive; providers' APIs need both, default last 30 days).
    sources: billing export files, directories, globs or storage URLs. providers: registered
    provider names; provider_blocks: saved block names. output: a directory or storage URL
    for the HTML report, parquet rows and JSON. With nothing to read (or sample=True) the
    seeded sample exports are compared.
    """
    logger = get_run_logger()
    d_start = date.fromisoformat(start) if start else None
    d_end = date.fromisoformat(end) if end else None
    sources = list(sources or [])
    scratch: list[str] = []  # temporary directories removed at the end
    if sample or not (sources or providers or provider_blocks):
        from providers.cost import sample as sample_mod

        first = d_start or (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        last = d_end or (first + timedelta(days=32)).replace(day=1)
        folder = tempdir()
        scratch.append(str(folder))
        sample_mod.generate(folder, start=first, days=max((last - first).days, 7))
        sources.append(str(folder))
    api_start = d_start or date.today() - timedelta(days=30)
    api_end = d_end or date.today()

    source_futures = {s: fetch_source.submit(s) for s in sources}
    provider_futures = {p: fetch_provider.submit(p, api_start, api_end) for p in providers or []}
    provider_futures |= {
        b: fetch_provider.submit(b, api_start, api_end, block=True) for b in provider_blocks or []
    }
    missing: dict[str, str] = {}
    files: list[str] = []
    for spec, fut in source_futures.items():
        try:
            found, workdir = fut.result()
            files += found
            if workdir:
                scratch.append(workdir)
        except Exception as exc:
            if strict:
                _remove(scratch)
                raise
            missing[spec] = str(exc)
            logger.warning("source %s is missing: %s", spec, exc)
    records: dict[str, list[CostRecord]] = {}
    for name, pfut in provider_futures.items():
        try:
            records[name] = pfut.result()
        except Exception as exc:
            if strict:
                _remove(scratch)
                raise
            missing[name] = str(exc)
            logger.warning("provider %s is missing: %s", name, exc)
    tag_key = group_by[4:] if group_by.startswith("tag:") else None
    try:
        comparison, written = analyse(
            files, records, d_start, d_end, missing, tag_key, rates, currency, output, group_by
        )
    finally:
        _remove(scratch)
    keys = publish_artifacts(comparison, group_by, written)
    data = comparison.to_dict()
    data["artifacts"] = keys
    data["report"] = written
    return data
