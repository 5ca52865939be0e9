"""Flow `cost-compare`: fetch each provider/source in its own task, then one comparison.

A source or provider that fails (after its task retries; a permanent error such as bad
credentials is not retried) is reported as missing and the others are still compared:
the artifacts are written, and then the run ends Failed naming each missing one, unless
it was listed in `optional`. strict=True stops at the first missing one. The analysis
itself is providers.cost.analyzer (the same engine `specify cloud cost` calls directly).
Artifacts: a table per provider (`cost-<provider>`) and a markdown comparison
(`cost-comparison`); each anomaly is also a Prefect event (`specify-cloud.cost.anomaly`).
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows import events
from flows.common import cloud_of, retry_unless_permanent
from flows.params import CostOptions
from providers.base import CostRecord
from providers.cost.analyzer import CloudCostAnalyzer, CostComparison, cents
from providers.cost.frame import FocusFrame
from providers.cost.options import CompareOptions
from providers.cost.sources import expand_paths, fetch_remote, tempdir


class CostCompareFailed(Exception):
    """Sources or providers were missing that were not optional; the comparison of the
    others rides along (`data`)."""

    def __init__(self, missing: dict[str, str], data: dict[str, Any]) -> None:
        self.missing = missing
        self.data = data
        super().__init__(
            f"cost-compare is missing {len(missing)} source(s)/provider(s): "
            + "; ".join(f"{name}: {why}" for name, why in missing.items())
            + " (list a name in `optional` to allow it to be missing)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (CostCompareFailed, (self.missing, self.data))


def _source_tags(spec: str) -> list[str]:
    if spec.startswith("block:"):
        return []
    cloud = cloud_of(spec) if "://" in spec else "local"
    return [cloud] if cloud else []


def _opener() -> Any:
    from blocks import open_location

    return open_location


@task(
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_unless_permanent,
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
    retry_condition_fn=retry_unless_permanent,
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
    measure: str = "auto",
) -> tuple[CostComparison, dict[str, str]]:
    from pathlib import Path

    frame = FocusFrame(start=start, end=end)
    try:
        if files:
            frame.add_files([Path(f) for f in files])
        for name, recs in records.items():
            frame.add_records(recs, name=f"api:{name}")
        analyzer = CloudCostAnalyzer(
            rates={k: Decimal(v) for k, v in (rates or {}).items()},
            currency=currency,
            measure=measure,
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
        label = f"{c.label}: " if c.sample else ""
        create_table_artifact(
            table=rows, key=key, description=f"{label}{p} costs by {group_by} ({c.measure})"
        )
        keys.append(key)
    lines = [
        f"# Cloud cost comparison ({c.start} to {c.end}, {c.measure}, {c.currency})",
        "",
        *([f"**{c.label}**", ""] if c.sample else []),
        "| provider | total | estimated |",
        "| --- | ---: | ---: |",
        *(
            f"| {p} | {cents(c.totals[p]):,.2f} | {cents(c.estimated[p]):,.2f} |"
            for p in c.providers
        ),
        "",
        "| category | cheapest | basis |",
        "| --- | --- | --- |",
        *(
            f"| {k} | {v['provider'] or 'not comparable'} | {v.get('reason') or v['basis']} |"
            for k, v in c.cheapest.items()
        ),
        "",
        f"**Cheapest overall:** {c.cheapest_overall.get('provider') or 'not comparable'}"
        + (f" ({c.cheapest_overall['reason']})" if c.cheapest_overall.get("reason") else ""),
        "",
        "## Recommendations",
        *(
            f"- {cents(r.monthly_saving):,.2f}/month ({r.provider}): {r.title}"
            for r in c.recommendations
        ),
        "",
        "## Anomalies",
        *(
            f"- {a['provider']} {a['service']} {a['day']}: {cents(a['cost'])} "
            f"(was {cents(a['previous'])})"
            for a in c.anomalies
        ),
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
    start: date | None = None,
    end: date | None = None,
    sources: list[str] | None = None,
    providers: list[str] | None = None,
    provider_blocks: list[str] | None = None,
    optional: list[str] | None = None,
    output: str | None = None,
    options: CostOptions | None = None,
    strict: bool = False,
    sample: bool = False,
) -> dict[str, Any]:
    """Compare cloud costs in FOCUS columns; fails if a source or provider is missing.

    Returns the comparison as JSON-ready data (amounts rounded to cents). With nothing to
    read (or sample=True) the seeded sample exports are compared.

    Args:
        start: First day, inclusive (the providers' APIs need it; default 30 days ago).
        end: Last day, exclusive (default today).
        sources: Billing export files, directories, globs or storage URLs (s3://, gs://,
            az://, block:NAME/prefix).
        providers: Registered providers whose cost API to ask: aws, gcp, azure, local.
        provider_blocks: Names of saved provider blocks whose cost API to ask.
        optional: Sources, providers or blocks that may be missing without failing the
            run (they are still reported as missing).
        output: A directory or storage URL for the HTML report, parquet rows and JSON.
        options: How to group and convert: group_by, tag_key, exchange rates, currency.
        strict: Stop at the first missing source or provider, before comparing.
        sample: Compare the generated sample exports (as well as any sources).
    """
    logger = get_run_logger()
    opts = options or CostOptions()
    group_by = opts.group_key
    allowed = set(optional or [])
    d_start, d_end = start, end
    # --- cost semantics: options and period arithmetic live once, in providers.cost.options
    compare = CompareOptions.build(
        start=start,
        end=end,
        sources=sources or (),
        providers=providers or (),
        provider_blocks=provider_blocks or (),
        group_by=opts.group_by,
        tag_key=opts.tag_key,
        rates=opts.rates,
        currency=opts.currency,
        measure=opts.measure,
        strict=strict,
        sample=sample,
        output=output,
    )
    sources = list(sources or [])
    scratch: list[str] = []  # temporary directories removed at the end
    if compare.uses_sample:
        from providers.cost import sample as sample_mod

        first, days = compare.sample_period()
        folder = tempdir()
        scratch.append(str(folder))
        sample_mod.generate(folder, start=first, days=days)
        sources.append(str(folder))
    api_start, api_end = compare.api_period()
    # --- end of cost semantics

    source_futures = {s: fetch_source.with_options(tags=_source_tags(s)).submit(s) for s in sources}
    provider_futures = {
        p: fetch_provider.with_options(tags=_source_tags(p + "://")).submit(p, api_start, api_end)
        for p in providers or []
    }
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
            if strict and spec not in allowed:
                _remove(scratch)
                raise
            missing[spec] = str(exc)
            logger.warning("source %s is missing: %s", spec, exc)
    records: dict[str, list[CostRecord]] = {}
    for name, pfut in provider_futures.items():
        try:
            records[name] = pfut.result()
        except Exception as exc:
            if strict and name not in allowed:
                _remove(scratch)
                raise
            missing[name] = str(exc)
            logger.warning("provider %s is missing: %s", name, exc)
    try:
        comparison, written = analyse(
            files,
            records,
            d_start,
            d_end,
            missing,
            compare.tag_key,
            compare.rates_text(),
            compare.currency,
            output,
            group_by,
            compare.measure,
        )
    finally:
        _remove(scratch)
    keys = publish_artifacts(comparison, group_by, written)
    for anomaly in comparison.anomalies:
        events.cost_anomaly(anomaly, comparison.currency)
    if comparison.anomalies:
        logger.info("%d cost anomalies (events emitted)", len(comparison.anomalies))
    data = comparison.to_dict()
    data["artifacts"] = keys
    data["report"] = written
    unexpected = {k: v for k, v in missing.items() if k not in allowed}
    if unexpected:
        raise CostCompareFailed(unexpected, data)
    return data
