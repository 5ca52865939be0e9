"""The comparison as files a person can open: a self-contained HTML report (inline SVG
cost-trend chart, no scripts, no CDN), the normalised FOCUS rows as parquet, and the
figures as JSON. Everything is built in a temporary directory first, so a failure leaves
nothing partial at the destination (a local directory or any provider's storage).
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from providers.base import CloudStorage
from providers.cost.analyzer import CostComparison, cents
from providers.cost.frame import FocusFrame

REPORT_FILES = ("cost-report.html", "focus-rows.parquet", "comparison.json")
COLORS = {"aws": "#ff9900", "gcp": "#4285f4", "azure": "#0078d4", "local": "#6b7280"}
_PALETTE = ("#10b981", "#ef4444", "#8b5cf6", "#f59e0b")


def _money(value: Decimal, currency: str) -> str:
    return f"{cents(value):,.2f} {currency}"


def trend_svg(comparison: CostComparison, width: int = 760, height: int = 260) -> str:
    """Daily cost per provider as polylines in an inline SVG."""
    days = sorted(comparison.daily)
    providers = comparison.providers
    if not days:
        return "<p>No daily data.</p>"
    values = [float(comparison.daily[d].get(p, 0)) for d in days for p in providers]
    top = max(max(values), 1e-9)
    bottom = min(min(values), 0.0)
    pad_l, pad_b, pad_t, pad_r = 60, 30, 20, 100
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(i: int) -> float:
        return pad_l + (w * i / max(len(days) - 1, 1))

    def y(v: float) -> float:
        return pad_t + h - (h * (v - bottom) / (top - bottom))

    base = y(bottom)
    right = pad_l + w
    small = 'font-size="11"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="daily cost trend">',
        f'<line x1="{pad_l}" y1="{base:.1f}" x2="{right}" y2="{base:.1f}" stroke="#999"/>',
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + h}" stroke="#999"/>',
        f'<text x="{pad_l - 6}" y="{pad_t + 4}" text-anchor="end" {small}>{top:,.0f}</text>',
        f'<text x="{pad_l - 6}" y="{base:.1f}" text-anchor="end" {small}>{bottom:,.0f}</text>',
        f'<text x="{pad_l}" y="{height - 8}" {small}>{days[0]}</text>',
        f'<text x="{right}" y="{height - 8}" text-anchor="end" {small}>{days[-1]}</text>',
    ]
    for n, p in enumerate(providers):
        color = COLORS.get(p, _PALETTE[n % len(_PALETTE)])
        points = " ".join(
            f"{x(i):.1f},{y(float(comparison.daily[d].get(p, 0))):.1f}" for i, d in enumerate(days)
        )
        parts.append(
            f'<polyline class="series" data-provider="{html.escape(p)}" fill="none" '
            f'stroke="{color}" stroke-width="2" points="{points}"/>'
        )
        parts.append(
            f'<text x="{pad_l + w + 8}" y="{pad_t + 14 + 16 * n}" fill="{color}" '
            f'font-size="12">{html.escape(p)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(title: str, data: dict[str, dict[str, Decimal]], providers: list[str], cur: str) -> str:
    head = "".join(f"<th>{html.escape(p)}</th>" for p in providers)
    rows = []
    for key, per in data.items():
        cells = "".join(
            f"<td class=num>{_money(per[p], cur) if p in per else '-'}</td>" for p in providers
        )
        rows.append(f"<tr><th>{html.escape(key or '(none)')}</th>{cells}</tr>")
    return f"<h2>{html.escape(title)}</h2><table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def render_html(c: CostComparison, *, group_by: str = "category") -> str:
    cur = c.currency
    esc = html.escape
    totals = {"Total": {p: c.totals[p] for p in c.providers}}
    totals["of which estimated"] = c.estimated
    totals["credits netted (GCP)"] = c.credits
    cheapest_rows = "".join(
        f"<tr><th>{esc(cat)}</th><td>{esc(r['provider'] or 'not comparable')}</td>"
        f"<td>{esc(r.get('reason') or r['basis'])}"
        f"{' per ' + esc(r['unit']) if r.get('unit') else ''}</td></tr>"
        for cat, r in c.cheapest.items()
    )
    anomalies = "".join(
        f"<li>{esc(a['provider'])} {esc(a['service'])} on {a['day']}: "
        f"{_money(a['cost'], cur)} (was {_money(a['previous'], cur)})</li>"
        for a in c.anomalies
    )
    recs = "".join(
        f"<li><b>{_money(r.monthly_saving, cur)}/month</b> [{esc(r.provider)}] {esc(r.title)} "
        f"<small>({len(r.rows)} supporting rows)</small></li>"
        for r in c.recommendations
    )
    forecast = "".join(
        f"<tr><th>{esc(p)}</th><td>{f['month']}</td><td class=num>{_money(f['actual'], cur)}</td>"
        f"<td class=num>{_money(f['forecast'], cur)}</td></tr>"
        for p, f in c.forecast.items()
    )
    missing = "".join(f"<li>{esc(p)}: {esc(why)}</li>" for p, why in c.missing.items())
    overall = c.cheapest_overall.get("provider") or "not comparable"
    overall_why = c.cheapest_overall.get("reason") or c.cheapest_overall.get("basis", "")
    banner = (
        f'<p id="sample-label" style="background:#fde68a;padding:8px;font-weight:bold">'
        f"{esc(c.label)}</p>"
        if c.sample
        else ""
    )
    read = "".join(f"<li>{esc(', '.join(s['files']))}: {esc(s['title'])}</li>" for s in c.sources)
    notes = "".join(f"<li>{esc(n)}</li>" for n in [*c.notes, *c.warnings])
    period = f"{c.start or '…'} to {c.end or '…'}"
    title = ("SAMPLE DATA: " if c.sample else "") + "Cloud cost comparison"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin-bottom:1em}}td,th{{border:1px solid #ddd;padding:4px 8px}}
.num{{text-align:right}}th{{text-align:left;background:#f6f6f6}}</style></head><body>
<h1>Cloud cost comparison{" (sample data)" if c.sample else ""}</h1>
{banner}
<p>Period {esc(period)} ({c.days} days), {c.rows:,} FOCUS rows, measure {esc(c.measure)},
currency {esc(cur)}. Cheapest overall: <b id="cheapest-overall">{esc(overall)}</b>
({esc(str(overall_why))}).</p>
{f"<h2>Sources</h2><ul>{read}</ul>" if read else ""}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
{f"<h2>Missing providers</h2><ul>{missing}</ul>" if missing else ""}
{_table("Totals", totals, c.providers, cur)}
<h2>Daily cost trend</h2>{trend_svg(c)}
{_table("By " + group_by, c.breakdown(group_by), c.providers, cur)}
{_table("By charge category", c.breakdown("charge"), c.providers, cur)}
<h2>Cheapest provider per comparable category</h2>
<table><tr><th>category</th><th>cheapest</th><th>basis</th></tr>{cheapest_rows}</table>
<h2>Month-end forecast</h2>
<table><tr><th></th><th>month</th><th>actual</th><th>forecast</th></tr>{forecast}</table>
<h2>Anomalies</h2><ul>{anomalies or "<li>none</li>"}</ul>
<h2>Recommendations</h2><ul>{recs or "<li>none</li>"}</ul>
</body></html>
"""


def write_report(
    comparison: CostComparison,
    frame: FocusFrame | None,
    destination: Path | str | CloudStorage,
    *,
    prefix: str = "",
    group_by: str = "category",
    opener: Callable[[str], tuple[CloudStorage, str]] | None = None,
) -> dict[str, str]:
    """Write report, rows and figures; return file name -> where it was written."""
    staging = Path(tempfile.mkdtemp(prefix="specify-cost-report-"))
    try:
        files = {
            "cost-report.html": staging / "cost-report.html",
            "comparison.json": staging / "comparison.json",
        }
        files["cost-report.html"].write_text(render_html(comparison, group_by=group_by), "utf-8")
        files["comparison.json"].write_text(json.dumps(comparison.to_dict(), indent=2), "utf-8")
        if frame is not None:
            files["focus-rows.parquet"] = frame.write_parquet(staging / "focus-rows.parquet")
        return _publish(files, destination, prefix, opener)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(
    files: dict[str, Path],
    destination: Path | str | CloudStorage,
    prefix: str,
    opener: Callable[[str], tuple[CloudStorage, str]] | None,
) -> dict[str, str]:
    if isinstance(destination, str) and (
        ("://" in destination and not destination.startswith("file://"))
        or destination.startswith("block:")
    ):
        from providers.locations import open_location

        storage, loc_prefix = (opener or open_location)(destination)
        destination, prefix = storage, "/".join(x for x in (loc_prefix, prefix) if x)
    if isinstance(destination, str | Path):
        text = str(destination)
        target = Path(text[len("file://") :] if text.startswith("file://") else text)
        target = target / prefix if prefix else target
        target.mkdir(parents=True, exist_ok=True)
        out = {}
        for name, path in files.items():
            tmp = target / f".{name}.tmp"
            shutil.copyfile(path, tmp)
            tmp.replace(target / name)  # atomic per file
            out[name] = str(target / name)
        return out
    return {
        name: destination.upload(path, "/".join(x for x in (prefix, name) if x))
        for name, path in files.items()
    }
