"""CloudCostAnalyzer: one comparison of FOCUS rows across providers.

One DuckDB pass aggregates the rows (over the files themselves) to a small table at the
grain provider x currency x charge category x service x region x day x unit x estimated
[x tag value]; every figure below is computed from that table in exact Decimal arithmetic.

The measure (docs/cost.md) is BilledCost (what the invoice shows; GCP's is net of credits)
unless a source gives only EffectiveCost (an Azure amortized export), or EffectiveCost is
asked for. Currencies are never mixed: several currencies need an exchange-rate table, else
CostAnalysisError. Comparisons that could mislead are "not comparable", with the reason.
"""

from __future__ import annotations

import calendar
import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from providers.base import CloudStorage
from providers.cost import focus
from providers.cost.frame import FocusFrame
from providers.cost.options import MEASURES, CompareOptions
from providers.cost.sources import display_name, lookup_sql
from providers.errors import CostAnalysisError, CostInputError
from providers.telemetry import record_cost_total

CENT = Decimal("0.01")
DAYS_PER_MONTH = Decimal("30.4375")
ZERO = Decimal(0)
GROUPS = ("category", "service", "region", "charge")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_str(value: Decimal) -> str:
    """An amount as an exact decimal string (at least two decimals: '8.545007787', '3.20')."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    text = f"{value.normalize():f}" if value != 0 else "0"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


@cache
def rules() -> dict[str, dict[str, Decimal]]:
    """Parameters of the recommendation rules (mappings/recommendation_rules.csv)."""
    out: dict[str, dict[str, Decimal]] = {}
    for row in focus.mapping_rows("recommendation_rules.csv"):
        out.setdefault(row["rule"], {})[row["parameter"]] = Decimal(row["value"])
    return out


@cache
def thresholds() -> dict[str, dict[str, Decimal]]:
    """Thresholds of the comparison and anomaly rules (mappings/analysis_thresholds.csv)."""
    out: dict[str, dict[str, Decimal]] = {}
    for row in focus.mapping_rows("analysis_thresholds.csv"):
        out.setdefault(row["rule"], {})[row["parameter"]] = Decimal(row["value"])
    return out


@cache
def units() -> dict[str, tuple[str, float]]:
    return {
        r["source_unit"]: (r["unit"], float(r["factor"])) for r in focus.mapping_rows("units.csv")
    }


@dataclass
class AggRow:
    """One row of the aggregate: FOCUS rows summed at the analysis grain."""

    provider: str
    currency: str
    charge: str
    category: str
    service: str
    region: str
    day: date
    unit: str
    estimated: bool
    tag: str
    billed: Decimal | None  # None: the source gives no BilledCost (amortized export)
    effective: Decimal
    credits: Decimal | None
    qty: float | None
    n: int
    amount: Decimal = ZERO  # the measure (billed or effective), in the report currency

    @property
    def usage(self) -> bool:
        return self.charge == "Usage"

    @property
    def shared_unit(self) -> tuple[str, float] | None:
        return units().get(self.unit)

    def key(self, group: str) -> str:
        return str(
            {
                "p": self.provider,
                "cat": self.category,
                "svc": self.service,
                "region": self.region,
                "day": self.day,
                "tag": self.tag,
                "cc": self.charge,
            }[group]
        )


@dataclass(frozen=True)
class Recommendation:
    rule: str
    provider: str
    title: str
    monthly_saving: Decimal
    rows: list[dict[str, Any]]  # the aggregated FOCUS rows that justify it


@dataclass
class CostComparison:
    """Every figure of one comparison; amounts are Decimal in `currency`."""

    currency: str
    start: date | None
    end: date | None
    days: int
    providers: list[str]
    totals: dict[str, Decimal]  # the measure, per provider
    by_charge: dict[str, dict[str, Decimal]]  # provider -> ChargeCategory -> amount
    estimated: dict[str, Decimal]
    credits: dict[str, Decimal]  # credits netted into BilledCost (GCP), per provider
    by_category: dict[str, dict[str, Decimal]]  # ServiceCategory -> provider -> amount
    by_service: dict[str, dict[str, Decimal]]
    by_region: dict[str, dict[str, Decimal]]
    by_tag: dict[str, dict[str, Decimal]]  # tag value ('' = untagged) -> provider -> amount
    tag_key: str | None
    daily: dict[str, dict[str, Decimal]]  # ISO day -> provider -> amount
    cheapest: dict[str, dict[str, Any]]  # category (used by >= 2 providers) -> the verdict
    cheapest_overall: dict[str, Any]
    anomalies: list[dict[str, Any]]
    forecast: dict[str, dict[str, Any]]
    recommendations: list[Recommendation]
    rows: int
    missing: dict[str, str] = field(default_factory=dict)  # provider -> why it has no data
    measure: str = "BilledCost"
    billed: dict[str, Decimal | None] = field(default_factory=dict)  # None: not given
    effective: dict[str, Decimal] = field(default_factory=dict)
    provider_names: dict[str, str] = field(default_factory=dict)  # id -> display name
    sources: list[dict[str, Any]] = field(default_factory=list)  # what was read, as what
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sample: bool = False  # generated sample data, not a real bill

    def breakdown(self, group_by: str) -> dict[str, dict[str, Decimal]]:
        if group_by.startswith("tag:"):
            return self.by_tag
        return {
            "category": self.by_category,
            "service": self.by_service,
            "region": self.by_region,
            "charge": {
                c: {p: v.get(c, ZERO) for p, v in self.by_charge.items()}
                for c in focus.CHARGE_CATEGORIES
            },
        }[group_by]

    @property
    def total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)

    @property
    def label(self) -> str:
        """'SAMPLE DATA' for generated data (shown in every output), else ''."""
        return "SAMPLE DATA (generated, not a real bill)" if self.sample else ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts as exact decimal strings."""
        return _jsonable(
            {
                "sample": self.sample,
                "label": self.label or None,
                "currency": self.currency,
                "measure": self.measure,
                "start": self.start,
                "end": self.end,
                "days": self.days,
                "providers": self.providers,
                "provider_names": self.provider_names,
                "sources": self.sources,
                "total": self.total,
                "totals": self.totals,
                "billed": self.billed,
                "effective": self.effective,
                "by_charge": self.by_charge,
                "estimated": self.estimated,
                "credits": self.credits,
                "by_category": self.by_category,
                "by_service": self.by_service,
                "by_region": self.by_region,
                "by_tag": {"key": self.tag_key, "values": self.by_tag} if self.tag_key else None,
                "daily": self.daily,
                "cheapest": self.cheapest,
                "cheapest_overall": self.cheapest_overall,
                "anomalies": self.anomalies,
                "forecast": self.forecast,
                "recommendations": [asdict(r) for r in self.recommendations],
                "rows": self.rows,
                "missing": self.missing,
                "warnings": self.warnings,
                "notes": self.notes,
            }
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money_str(value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class CloudCostAnalyzer:
    """Compare FOCUS rows across providers; see the module docstring."""

    def __init__(
        self,
        *,
        rates: Mapping[str, Decimal] | None = None,
        currency: str | None = None,
        measure: str = "auto",
        anomaly_threshold: float | None = None,
        anomaly_min_increase: float | None = None,
    ) -> None:
        # rates: units of `currency` per unit of each other currency
        self.rates = {k.upper(): Decimal(v) for k, v in (rates or {}).items()}
        self.currency = currency.upper() if currency else None
        if measure not in MEASURES:
            raise CostInputError(
                f"measure '{measure}' is not one of {', '.join(MEASURES)}", operation="compare"
            )
        self.measure = measure
        t = thresholds()["anomaly"]
        self.anomaly_threshold = (
            float(t["robust_z"]) if anomaly_threshold is None else anomaly_threshold
        )
        # a spike must also be material: this share of the series' median daily cost
        self.anomaly_min_increase = (
            float(t["min_relative_increase"])
            if anomaly_min_increase is None
            else anomaly_min_increase
        )
        self.anomaly_min_abs = t["min_increase"]
        self.anomaly_min_days = int(t["min_days"])

    # ------------------------------------------------------------------ aggregation
    def aggregate(self, frame: FocusFrame, tag_key: str | None = None) -> list[AggRow]:
        """The one pass over the data; it also counts malformed values (then located)."""
        tag = (
            f"COALESCE(json_extract_string(Tags, {focus.sql_quote('$.' + _json_key(tag_key))}), '')"
            if tag_key
            else "''"
        )
        # group the unmapped rows first, then look services and charge types up in the
        # small result: the lookups cost nothing per row
        grouped = frame.grouped_sql(
            f"""ProviderName, BillingCurrency, ChargeCategory, ServiceName, ServiceCategory,
                COALESCE(RegionId, '') AS region, CAST(ChargePeriodStart AS DATE) AS day,
                COALESCE(PricingUnit, '') AS unit, COALESCE(x_Estimated, FALSE) AS est,
                {tag} AS tag""",
            """SUM(BilledCost) AS billed, COUNT(BilledCost) AS nbilled,
                SUM(EffectiveCost) AS effective, SUM(x_Credits) AS credits,
                SUM(PricingQuantity) AS qty, COUNT(*) AS n""",
        )
        sql = f"""
            SELECT ProviderName AS p, BillingCurrency AS cur, ChargeCategory AS cc,
                   ServiceCategory AS cat, ServiceName AS svc, region, day, unit, est, tag,
                   SUM(billed) AS billed, CAST(SUM(nbilled) AS BIGINT) AS nbilled,
                   SUM(effective) AS effective, SUM(credits) AS credits, SUM(qty) AS qty,
                   CAST(SUM(n) AS BIGINT) AS n, SUM(__bad_rows) AS bad
            FROM ({lookup_sql(grouped)}) GROUP BY ALL"""
        cur = frame.execute(sql)
        names = [d[0] for d in cur.description]
        raw = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        if any(a["bad"] for a in raw):
            frame.check()  # finds the first malformed row and raises
        frame.mark_checked()  # every row was counted, in the date range or not
        frame.check_values(
            {a["cur"] for a in raw}, any(a["cc"] is None for a in raw), {a["cat"] for a in raw}
        )
        return [
            AggRow(
                provider=a["p"],
                currency=a["cur"],
                charge=a["cc"],
                category=a["cat"],
                service=a["svc"] or "",
                region=a["region"],
                day=a["day"],
                unit=a["unit"],
                estimated=a["est"],
                tag=a["tag"],
                billed=a["billed"] if a["nbilled"] else None,
                effective=a["effective"] if a["effective"] is not None else ZERO,
                credits=a["credits"],
                qty=a["qty"],
                n=a["n"],
            )
            for a in raw
        ]

    def _measure_for(self, frame: FocusFrame) -> tuple[str, list[str]]:
        """'billed' or 'effective', and the notes that explain the choice."""
        amortized = [f for p in frame.parts if not p.has_billed for f in p.files]
        if self.measure == "effective":
            return "effective", []
        if amortized and self.measure == "billed":
            raise CostInputError(
                f"{', '.join(amortized)}: an amortized export gives EffectiveCost only; its "
                "BilledCost is not known",
                operation="compare",
                hint="Compare with --measure effective, or give the actual-cost export",
            )
        if amortized:
            return "effective", [
                "Measure: EffectiveCost (amortized), because "
                + ", ".join(amortized)
                + " is an amortized export and gives no BilledCost"
            ]
        return "billed", []

    def compare(
        self,
        frame: FocusFrame,
        *,
        tag_key: str | None = None,
        missing: Mapping[str, str] | None = None,
    ) -> CostComparison:
        measure, notes = self._measure_for(frame)
        agg = self.aggregate(frame, tag_key)
        c = self.compare_aggregate(
            agg, frame.start, frame.end, tag_key=tag_key, missing=missing, measure=measure
        )
        c.sources = frame.describe_sources()
        c.warnings = frame.warnings
        c.notes = notes + c.notes
        c.sample = frame.sample
        return c

    def compare_aggregate(
        self,
        agg: list[AggRow],
        start: date | None,
        end: date | None,
        *,
        tag_key: str | None = None,
        missing: Mapping[str, str] | None = None,
        measure: str = "billed",
    ) -> CostComparison:
        currency = self._convert(agg)
        for a in agg:
            a.amount = a.effective if measure == "effective" or a.billed is None else a.billed
        providers = sorted({a.provider for a in agg})
        days = sorted({a.day for a in agg})
        n_days = (days[-1] - days[0]).days + 1 if days else 0

        def pivot(key: str) -> dict[str, dict[str, Decimal]]:
            out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
            for a in agg:
                out[a.key(key)][a.provider] += a.amount
            return {k: dict(v) for k, v in sorted(out.items())}

        totals = {p: sum((a.amount for a in agg if a.provider == p), ZERO) for p in providers}
        billed: dict[str, Decimal | None] = {}
        for p in providers:
            rows = [a for a in agg if a.provider == p]
            billed[p] = (
                None
                if any(a.billed is None for a in rows)
                else sum((a.billed or ZERO for a in rows), ZERO)
            )
        effective = {p: sum((a.effective for a in agg if a.provider == p), ZERO) for p in providers}
        by_charge: dict[str, dict[str, Decimal]] = {p: {} for p in providers}
        for a in agg:
            by_charge[a.provider][a.charge] = by_charge[a.provider].get(a.charge, ZERO) + a.amount
        estimated = {
            p: sum((a.amount for a in agg if a.provider == p and a.estimated), ZERO)
            for p in providers
        }
        credits = {
            p: sum((a.credits for a in agg if a.provider == p and a.credits is not None), ZERO)
            for p in providers
        }
        cheapest, overall = self._cheapest(agg, providers, totals)
        return CostComparison(
            currency=currency,
            # with no range asked for, the range the data covers: [first day, last day + 1)
            start=start or (days[0] if days else None),
            end=end or (days[-1] + timedelta(days=1) if days else None),
            days=n_days,
            providers=providers,
            totals=totals,
            by_charge=by_charge,
            estimated=estimated,
            credits=credits,
            by_category=pivot("cat"),
            by_service=pivot("svc"),
            by_region=pivot("region"),
            by_tag=pivot("tag") if tag_key else {},
            tag_key=tag_key,
            daily=pivot("day"),
            cheapest=cheapest,
            cheapest_overall=overall,
            anomalies=self._anomalies(agg),
            forecast=self._forecast(agg, providers),
            recommendations=recommend(agg, providers, cheapest, n_days),
            rows=sum(a.n for a in agg),
            missing=dict(missing or {}),
            measure="EffectiveCost" if measure == "effective" else "BilledCost",
            billed=billed,
            effective=effective,
            provider_names={p: display_name(p) for p in providers},
        )

    # ------------------------------------------------------------------ currencies
    def _convert(self, agg: list[AggRow]) -> str:
        found: dict[str, set[str]] = defaultdict(set)
        for a in agg:
            found[a.currency].add(a.provider)
        if not found:
            return self.currency or "USD"
        target = self.currency or (next(iter(found)) if len(found) == 1 else "USD")
        missing = [c for c in found if c != target and c not in self.rates]
        if missing:
            listing = "; ".join(f"{c} ({', '.join(sorted(ps))})" for c, ps in sorted(found.items()))
            raise CostInputError(
                f"costs are in several currencies: {listing}; no exchange rate to {target} "
                f"for {', '.join(sorted(missing))}",
                operation="compare",
                hint="Give an exchange-rate table (--rates FILE with lines 'EUR,1.09') or "
                "compare one currency at a time",
            )
        for a in agg:
            if a.currency != target:
                rate = self.rates[a.currency]
                a.billed = a.billed * rate if a.billed is not None else None
                a.effective = a.effective * rate
                if a.credits is not None:
                    a.credits = a.credits * rate
                a.currency = target
        return target

    # ------------------------------------------------------------------ cheapest
    def _cheapest(
        self, agg: list[AggRow], providers: list[str], totals: dict[str, Decimal]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """Per category used by >= 2 providers: the lowest usage cost per shared unit, only
        when every side consumes that unit (`min_unit_share` of its usage cost) and has
        material spend (`min_spend`, `min_share_of_largest`); else "not comparable" with
        the reason. Overall: each provider prices the comparable workload at its own rates."""
        t = thresholds()["cheapest"]
        cost: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        qty: dict[tuple[str, str, str], float] = defaultdict(float)
        spend: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for a in agg:
            if not a.usage:
                continue
            spend[(a.category, a.provider)] += a.amount
            unit = a.shared_unit
            if unit and a.qty:
                cost[(a.category, unit[0], a.provider)] += a.amount
                qty[(a.category, unit[0], a.provider)] += float(a.qty) * unit[1]
        result: dict[str, dict[str, Any]] = {}
        for cat in sorted({c for c, _ in spend}):
            present = [p for p in providers if (cat, p) in spend]
            if len(present) < 2:
                continue
            costs = {p: spend[(cat, p)] for p in present}
            verdict = _not_comparable(costs, t)
            if verdict:
                result[cat] = verdict
                continue
            # the unit every side consumes most of its spend in
            units_used = {u for c, u, _ in cost if c == cat}
            shares = {
                u: {p: cost[(cat, u, p)] / costs[p] if costs[p] else ZERO for p in present}
                for u in units_used
            }
            unit_name = max(
                (u for u in units_used if all(qty[(cat, u, p)] > 0 for p in present)),
                key=lambda u: min(shares[u].values()),
                default=None,
            )
            if unit_name is None or min(shares[unit_name].values()) < t["min_unit_share"]:
                mix = "; ".join(_unit_mix(p, shares) for p in present)
                result[cat] = {
                    "provider": None,
                    "comparable": False,
                    "basis": "not comparable",
                    "reason": "the providers' usage is not in one shared unit "
                    f"(each side needs >= {t['min_unit_share']:.0%} of its spend in it): "
                    + (mix or "no usage quantities"),
                    "costs": costs,
                }
                continue
            rates = {
                p: cost[(cat, unit_name, p)] / Decimal(repr(qty[(cat, unit_name, p)]))
                for p in present
            }
            best = min(present, key=lambda p: rates[p])
            quantity = sum(qty[(cat, unit_name, p)] for p in present)
            result[cat] = {
                "provider": best,
                "comparable": True,
                "basis": "unit_cost",
                "unit": unit_name,
                "unit_costs": {p: float(rates[p]) for p in present},
                "costs": costs,
                "quantity": quantity,
                # what the whole category's usage would cost at each provider's rate
                "equivalent": {p: rates[p] * Decimal(repr(quantity)) for p in present},
            }
        comparable = {k: v for k, v in result.items() if v["comparable"]}
        overall: dict[str, Any]
        full = [p for p in providers if all(p in r["equivalent"] for r in comparable.values())]
        if len(providers) < 2:
            overall = {}
        elif comparable and len(full) >= 2:
            workload = {
                p: sum((r["equivalent"][p] for r in comparable.values()), ZERO) for p in full
            }
            best = min(workload, key=lambda p: workload[p])
            overall = {
                "provider": best,
                "comparable": True,
                "basis": "comparable_workload",
                "categories": sorted(comparable),
                "costs": workload,
            }
        else:
            verdict = _not_comparable(totals, t)
            reason = (
                verdict["reason"]
                if verdict
                else "no category is used by two providers in one shared unit"
            )
            overall = {
                "provider": None,
                "comparable": False,
                "basis": "not comparable",
                "reason": reason,
                "costs": dict(totals),
            }
        return result, overall

    # ------------------------------------------------------------------ anomalies
    def _series(self, agg: list[AggRow]) -> dict[tuple[str, str], dict[date, Decimal]]:
        series: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )
        for a in agg:
            if a.usage:
                series[(a.provider, a.service)][a.day] += a.amount
        return series

    def _anomalies(self, agg: list[AggRow]) -> list[dict[str, Any]]:
        """Day-over-day increases of a service's daily usage cost that are unusual (robust
        z-score, median/MAD, above `robust_z`) and material: at least `min_increase` in the
        report currency and `min_relative_increase` of the series' median day."""
        found = []
        for (provider, service), by_day in sorted(self._series(agg).items()):
            days = sorted(by_day)
            if len(days) < self.anomaly_min_days:
                continue
            first = days[0]
            values = [
                by_day.get(first + timedelta(d), ZERO) for d in range((days[-1] - first).days + 1)
            ]
            diffs = [float(b - a) for a, b in itertools.pairwise(values)]
            med = statistics.median(diffs)
            mad = statistics.median(abs(d - med) for d in diffs)
            level = float(statistics.median(values))
            for i, d in enumerate(diffs, start=1):
                increase = values[i] - values[i - 1]
                if increase < self.anomaly_min_abs or d < self.anomaly_min_increase * level:
                    continue
                z = _robust_z(d, med, mad, diffs)
                if z > self.anomaly_threshold:
                    found.append(
                        {
                            "provider": provider,
                            "service": service,
                            "day": first + timedelta(days=i),
                            "cost": values[i],
                            "previous": values[i - 1],
                            "increase": increase,
                            "score": z if z != float("inf") else 999.0,
                        }
                    )
        return found

    # ------------------------------------------------------------------ forecast
    def _forecast(self, agg: list[AggRow], providers: list[str]) -> dict[str, dict[str, Any]]:
        """Month-end: actual so far in the last month + mean daily usage of its last 7 days."""
        if not agg:
            return {}
        last = max(a.day for a in agg)
        month_start = last.replace(day=1)
        month_days = calendar.monthrange(last.year, last.month)[1]
        remaining = month_days - last.day
        out = {}
        for p in providers:
            actual = sum((a.amount for a in agg if a.provider == p and a.day >= month_start), ZERO)
            window = [last - timedelta(days=i) for i in range(min(7, last.day))]
            usage = sum(
                (a.amount for a in agg if a.provider == p and a.usage and a.day in window), ZERO
            )
            daily = usage / len(window)
            out[p] = {
                "month": month_start.strftime("%Y-%m"),
                "actual": actual,
                "daily_run_rate": daily,
                "forecast": actual + daily * remaining,
                "remaining_days": remaining,
            }
        return out


def _robust_z(d: float, med: float, mad: float, diffs: list[float]) -> float:
    """The modified z-score 0.6745·(d - median)/MAD; when most days do not change (MAD
    is 0), the mean absolute deviation stands in: (d - median)/(1.253314·MeanAD). A series
    that is mostly flat with recurring jumps is then not a stream of anomalies."""
    if mad:
        return 0.6745 * (d - med) / mad
    mean_ad = statistics.fmean(abs(x - med) for x in diffs)
    return (d - med) / (1.253314 * mean_ad) if mean_ad else float("inf")


def _unit_mix(provider: str, shares: Mapping[str, Mapping[str, Decimal]]) -> str:
    """'aws: 60% Hours, 40% GB': how a provider's category spend splits over units."""
    used = sorted(
        (u for u in shares if shares[u][provider] > 0), key=lambda u: -shares[u][provider]
    )
    return f"{provider}: " + ", ".join(f"{shares[u][provider]:.0%} {u}" for u in used)


def _not_comparable(
    costs: Mapping[str, Decimal], t: Mapping[str, Decimal]
) -> dict[str, Any] | None:
    """The verdict when some side's spend is too small to compare (else None)."""
    largest = max(costs.values(), default=ZERO)
    small = [
        p
        for p, v in costs.items()
        if v < t["min_spend"] or (largest > 0 and v < largest * t["min_share_of_largest"])
    ]
    if not small:
        return None
    listing = ", ".join(f"{p} {cents(costs[p])}" for p in small)
    return {
        "provider": None,
        "comparable": False,
        "basis": "not comparable",
        "reason": f"spend too small to compare: {listing} (each side needs at least "
        f"{t['min_spend']} and {t['min_share_of_largest']:.0%} of the largest side)",
        "costs": dict(costs),
    }


# ---------------------------------------------------------------------- recommendations
@dataclass(frozen=True)
class RuleInput:
    """What every recommendation rule reads."""

    rows: list[AggRow]
    providers: list[str]
    cheapest: dict[str, dict[str, Any]]
    per_month: Decimal  # period amounts x this = monthly amounts
    params: Mapping[str, Decimal]  # the rule's parameters (recommendation_rules.csv)

    def usage(self, pred: Callable[[AggRow], bool]) -> Iterable[AggRow]:
        return (a for a in self.rows if a.usage and pred(a))

    def justify(self, pred: Callable[[AggRow], bool]) -> list[dict[str, Any]]:
        """The aggregated FOCUS rows (usage) behind a recommendation."""
        acc: dict[tuple[str, str, str, str, str], list[Any]] = {}
        for a in self.usage(pred):
            key = (a.provider, a.category, a.service, a.region, a.unit)
            v = acc.setdefault(key, [ZERO, 0.0, 0])
            v[0] += a.amount
            v[1] += float(a.qty or 0)
            v[2] += a.n
        return [
            {
                "ProviderName": k[0],
                "ServiceCategory": k[1],
                "ServiceName": k[2],
                "RegionId": k[3],
                "PricingUnit": k[4],
                "Cost": v[0],
                "PricingQuantity": v[1],
                "rows": v[2],
            }
            for k, v in sorted(acc.items())
        ]


def _on(
    provider: str, category: str | None = None, unit: str | None = None
) -> Callable[[AggRow], bool]:
    """A predicate: rows of provider (in category, in shared unit)."""

    def pred(a: AggRow) -> bool:
        return (
            a.provider == provider
            and (category is None or a.category == category)
            and (unit is None or (a.shared_unit or ("",))[0] == unit)
        )

    return pred


def rule_move_to_cheaper(ri: RuleInput) -> list[Recommendation]:
    """Usage in a comparable category where another provider's unit cost is lower."""
    out = []
    for cat, c in ri.cheapest.items():
        if not c.get("comparable") or c["basis"] != "unit_cost":
            continue
        best_rate = Decimal(repr(c["unit_costs"][c["provider"]]))
        for p, rate_f in c["unit_costs"].items():
            if p == c["provider"]:
                continue
            rate = Decimal(repr(rate_f))
            p_qty = sum(
                float(a.qty or 0) * units()[a.unit][1] for a in ri.usage(_on(p, cat, c["unit"]))
            )
            saving = (rate - best_rate) * Decimal(repr(p_qty)) * ri.per_month
            if saving >= ri.params["min_monthly_saving"]:
                out.append(
                    Recommendation(
                        "move_to_cheaper",
                        p,
                        f"{cat} on {p} costs {rate:.4f} per {c['unit']}, "
                        f"{c['provider']} {best_rate:.4f}: move or renegotiate",
                        cents(saving),
                        ri.justify(_on(p, cat)),
                    )
                )
    return out


def rule_commit_steady_compute(ri: RuleInput) -> list[Recommendation]:
    """Steady on-demand compute: a commitment (savings plan / CUD / reservation)."""
    out = []
    for p in ri.providers:
        by_day: dict[date, Decimal] = defaultdict(Decimal)
        for a in ri.usage(_on(p, "Compute")):
            by_day[a.day] += a.amount
        if len(by_day) < ri.params["min_days"]:
            continue
        values = [float(v) for v in by_day.values()]
        mean = statistics.fmean(values)
        if mean <= 0 or statistics.pstdev(values) / mean > float(ri.params["max_variation"]):
            continue
        saving = sum(by_day.values(), ZERO) * ri.per_month * ri.params["discount"]
        if saving >= ri.params["min_monthly_saving"]:
            out.append(
                Recommendation(
                    "commit_steady_compute",
                    p,
                    f"compute usage on {p} is steady: a 1-year commitment saves about "
                    f"{ri.params['discount'] * 100:.0f}%",
                    cents(saving),
                    ri.justify(_on(p, "Compute")),
                )
            )
    return out


def rule_reduce_egress(ri: RuleInput) -> list[Recommendation]:
    """Network usage above its share of a provider's usage."""
    out = []
    for p in ri.providers:
        usage = sum((a.amount for a in ri.usage(_on(p))), ZERO)
        net = sum(
            (a.amount for a in ri.usage(_on(p, "Networking"))),
            ZERO,
        )
        if usage <= 0 or net / usage <= ri.params["max_share"]:
            continue
        saving = net * ri.per_month * ri.params["saving_share"]
        if saving >= ri.params["min_monthly_saving"]:
            out.append(
                Recommendation(
                    "reduce_egress",
                    p,
                    f"networking is {net / usage:.0%} of usage on {p}: cache (CDN), keep "
                    "traffic in-region, compress",
                    cents(saving),
                    ri.justify(_on(p, "Networking")),
                )
            )
    return out


#: one function per rule of recommendation_rules.csv
RULES: dict[str, Callable[[RuleInput], list[Recommendation]]] = {
    "move_to_cheaper": rule_move_to_cheaper,
    "commit_steady_compute": rule_commit_steady_compute,
    "reduce_egress": rule_reduce_egress,
}


def recommend(
    rows: list[AggRow],
    providers: list[str],
    cheapest: dict[str, dict[str, Any]],
    n_days: int,
) -> list[Recommendation]:
    """Every rule named in recommendation_rules.csv, largest saving first."""
    if not n_days:
        return []
    per_month = DAYS_PER_MONTH / n_days
    out: list[Recommendation] = []
    for name, params in rules().items():
        out += RULES[name](RuleInput(rows, providers, cheapest, per_month, params))
    return sorted(out, key=lambda x: x.monthly_saving, reverse=True)


def _json_key(key: str | None) -> str:
    return '"' + (key or "").replace('"', '\\"') + '"'


def provider_records(provider: str, start: date, end: date) -> list[Any]:
    """CostRecords from a registered provider's cost API (Cost Explorer, BigQuery, ...)."""
    from providers.registry import get_provider

    return get_provider(provider).get_cost().get_costs(start, end, "DAILY", ("service",))


def run_comparison(
    options: CompareOptions,
    *,
    opener: Callable[[str], tuple[CloudStorage, str]] | None = None,
) -> tuple[CostComparison, FocusFrame]:
    """Read sources, fetch providers (a failing one is reported missing unless strict).

    With options.uses_sample, the seeded sample exports are generated for the period and
    compared (labelled as sample in every output). opener resolves storage URLs of sources
    (blocks.open_location also knows block:NAME).
    """
    from providers.errors import CloudError

    frame = FocusFrame(start=options.start, end=options.end)
    try:
        missing: dict[str, str] = {}
        sources = list(options.sources)
        if options.uses_sample:
            from providers.cost import sample as sample_mod
            from providers.cost.sources import tempdir

            folder = tempdir()
            frame.scratch.append(folder)
            first, days = options.sample_period()
            sample_mod.generate(folder, start=first, days=days)
            sources.append(str(folder))
        for spec in sources:
            frame.add_source(spec, opener=opener)
        for name in options.providers:
            start, end = options.api_period()
            try:
                frame.add_records(provider_records(name, start, end), name=f"api:{name}")
            except CloudError as exc:
                if options.strict:
                    raise
                missing[name] = str(exc)
        if not frame.parts:
            raise CostAnalysisError(
                "no cost data: " + "; ".join(f"{p}: {m}" for p, m in missing.items()),
                operation="compare",
                hint="Check the providers' credentials or give --source files",
            )
        comparison = analyzer_for(options).compare(frame, tag_key=options.tag_key, missing=missing)
    except BaseException:
        frame.close()  # removes downloaded sources and generated samples too
        raise
    for name, total in comparison.totals.items():
        record_cost_total(name, float(total), comparison.currency)
    return comparison, frame


def analyzer_for(options: CompareOptions) -> CloudCostAnalyzer:
    return CloudCostAnalyzer(
        rates=options.rates, currency=options.currency, measure=options.measure
    )


def read_rates(path: str) -> dict[str, Decimal]:
    """An exchange-rate table (see providers.cost.options.read_rates)."""
    from providers.cost.options import read_rates as read

    return read(path)
