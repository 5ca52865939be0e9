"""CloudCostAnalyzer: one comparison of FOCUS rows across providers.

One DuckDB pass aggregates the rows (over the files themselves) to a small table at the
grain provider x currency x charge category x service x region x day x unit x estimated
[x tag value]; every figure below is computed from that table in exact Decimal arithmetic.
The measure is BilledCost (what the invoice shows; GCP's is net of credits). Currencies are
never mixed: several currencies need an exchange-rate table, else CostAnalysisError.
"""

from __future__ import annotations

import calendar
import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from providers.base import CloudStorage
from providers.cost import focus
from providers.cost.focus import FocusFrame
from providers.cost.sources import lookup_sql
from providers.errors import CostAnalysisError
from providers.telemetry import record_cost_total

CENT = Decimal("0.01")
DAYS_PER_MONTH = Decimal("30.4375")
ZERO = Decimal(0)
GROUPS = ("category", "service", "region", "charge")
_GROUP_COLUMN = {"category": "cat", "service": "svc", "region": "region", "charge": "cc"}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@cache
def rules() -> dict[str, dict[str, Decimal]]:
    """Parameters of the recommendation rules (mappings/recommendation_rules.csv)."""
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in focus.mapping_rows("recommendation_rules.csv"):
        out[row["rule"]][row["parameter"]] = Decimal(row["value"])
    return dict(out)


@cache
def units() -> dict[str, tuple[str, float]]:
    return {
        r["source_unit"]: (r["unit"], float(r["factor"])) for r in focus.mapping_rows("units.csv")
    }


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
    totals: dict[str, Decimal]
    by_charge: dict[str, dict[str, Decimal]]  # provider -> ChargeCategory -> amount
    estimated: dict[str, Decimal]
    credits: dict[str, Decimal]  # credits netted into BilledCost (GCP), per provider
    by_category: dict[str, dict[str, Decimal]]  # ServiceCategory -> provider -> amount
    by_service: dict[str, dict[str, Decimal]]
    by_region: dict[str, dict[str, Decimal]]
    by_tag: dict[str, dict[str, Decimal]]  # tag value ('' = untagged) -> provider -> amount
    tag_key: str | None
    daily: dict[str, dict[str, Decimal]]  # ISO day -> provider -> amount
    cheapest: dict[str, dict[str, Any]]  # comparable category -> the comparison
    cheapest_overall: dict[str, Any]
    anomalies: list[dict[str, Any]]
    forecast: dict[str, dict[str, Any]]
    recommendations: list[Recommendation]
    rows: int
    missing: dict[str, str] = field(default_factory=dict)  # provider -> why it has no data

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts as numbers rounded to the cent."""
        return _jsonable(
            {
                "currency": self.currency,
                "start": self.start,
                "end": self.end,
                "days": self.days,
                "providers": self.providers,
                "total": self.total,
                "totals": self.totals,
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
            }
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(cents(value))
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
        anomaly_threshold: float = 3.5,
        anomaly_min_increase: float = 0.2,
    ) -> None:
        # rates: units of `currency` per unit of each other currency
        self.rates = {k.upper(): Decimal(v) for k, v in (rates or {}).items()}
        self.currency = currency.upper() if currency else None
        self.anomaly_threshold = anomaly_threshold
        # a spike must also be material: this share of the series' median daily cost
        self.anomaly_min_increase = anomaly_min_increase

    # ------------------------------------------------------------------ aggregation
    def aggregate(self, frame: FocusFrame, tag_key: str | None = None) -> list[dict[str, Any]]:
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
            """SUM(BilledCost) AS billed, SUM(x_Credits) AS credits,
                SUM(PricingQuantity) AS qty, COUNT(*) AS n""",
        )
        sql = f"""
            SELECT ProviderName AS p, BillingCurrency AS cur, ChargeCategory AS cc,
                   ServiceCategory AS cat, ServiceName AS svc, region, day, unit, est, tag,
                   SUM(billed) AS billed, SUM(credits) AS credits, SUM(qty) AS qty,
                   CAST(SUM(n) AS BIGINT) AS n, SUM(__bad_rows) AS bad
            FROM ({lookup_sql(grouped)}) GROUP BY ALL"""
        cur = frame.con.execute(sql)
        names = [d[0] for d in cur.description]
        agg = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        if any(a["bad"] for a in agg):
            frame.check()  # finds the first malformed row and raises
        frame.mark_checked()  # every row was counted, in the date range or not
        frame.check_values(
            {a["cur"] for a in agg}, any(a["cc"] is None for a in agg), {a["cat"] for a in agg}
        )
        return agg

    def compare(
        self,
        frame: FocusFrame,
        *,
        tag_key: str | None = None,
        missing: Mapping[str, str] | None = None,
    ) -> CostComparison:
        agg = self.aggregate(frame, tag_key)
        return self.compare_aggregate(agg, frame.start, frame.end, tag_key=tag_key, missing=missing)

    def compare_aggregate(
        self,
        agg: list[dict[str, Any]],
        start: date | None,
        end: date | None,
        *,
        tag_key: str | None = None,
        missing: Mapping[str, str] | None = None,
    ) -> CostComparison:
        currency = self._convert(agg)
        providers = sorted({a["p"] for a in agg})
        days = sorted({a["day"] for a in agg})
        n_days = (days[-1] - days[0]).days + 1 if days else 0

        def pivot(key: str) -> dict[str, dict[str, Decimal]]:
            out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
            for a in agg:
                out[str(a[key])][a["p"]] += a["billed"]
            return {k: dict(v) for k, v in sorted(out.items())}

        by_provider = pivot("p")
        totals = {p: by_provider[p][p] for p in providers}
        by_charge = {p: {} for p in providers}  # type: dict[str, dict[str, Decimal]]
        for a in agg:
            by_charge[a["p"]][a["cc"]] = by_charge[a["p"]].get(a["cc"], ZERO) + a["billed"]
        estimated = {
            p: sum((a["billed"] for a in agg if a["p"] == p and a["est"]), ZERO) for p in providers
        }
        credits = {
            p: sum((a["credits"] for a in agg if a["p"] == p and a["credits"] is not None), ZERO)
            for p in providers
        }
        daily = {k: v for k, v in pivot("day").items()}
        cheapest, overall = self._cheapest(agg, providers, totals)
        anomalies = self._anomalies(agg)
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
            daily=daily,
            cheapest=cheapest,
            cheapest_overall=overall,
            anomalies=anomalies,
            forecast=self._forecast(agg, providers),
            recommendations=self._recommend(agg, providers, cheapest, n_days),
            rows=sum(a["n"] for a in agg),
            missing=dict(missing or {}),
        )

    # ------------------------------------------------------------------ currencies
    def _convert(self, agg: list[dict[str, Any]]) -> str:
        found: dict[str, set[str]] = defaultdict(set)
        for a in agg:
            found[a["cur"]].add(a["p"])
        if not found:
            return self.currency or "USD"
        target = self.currency or (next(iter(found)) if len(found) == 1 else "USD")
        missing = [c for c in found if c != target and c not in self.rates]
        if missing:
            listing = "; ".join(f"{c} ({', '.join(sorted(ps))})" for c, ps in sorted(found.items()))
            raise CostAnalysisError(
                f"costs are in several currencies: {listing}; no exchange rate to {target} "
                f"for {', '.join(sorted(missing))}",
                operation="compare",
                hint="Give an exchange-rate table (--rates FILE with lines 'EUR,1.09') or "
                "compare one currency at a time",
            )
        for a in agg:
            if a["cur"] != target:
                rate = self.rates[a["cur"]]
                a["billed"] = a["billed"] * rate
                if a["credits"] is not None:
                    a["credits"] = a["credits"] * rate
                a["cur"] = target
        return target

    # ------------------------------------------------------------------ cheapest
    def _cheapest(
        self, agg: list[dict[str, Any]], providers: list[str], totals: dict[str, Decimal]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """Per category: lowest usage cost per shared unit (or lowest spend if no shared unit)."""
        cost: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        qty: dict[tuple[str, str, str], float] = defaultdict(float)
        spend: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for a in agg:
            if a["cc"] != "Usage":
                continue
            spend[(a["cat"], a["p"])] += a["billed"]
            unit = units().get(a["unit"])
            if unit and a["qty"]:
                cost[(a["cat"], unit[0], a["p"])] += a["billed"]
                qty[(a["cat"], unit[0], a["p"])] += float(a["qty"]) * unit[1]
        result: dict[str, dict[str, Any]] = {}
        cats = sorted({c for c, _ in spend})
        for cat in cats:
            present = [p for p in providers if (cat, p) in spend]
            if len(present) < 2:
                continue
            by_unit: dict[str, list[str]] = defaultdict(list)
            for c, u, p in cost:
                if c == cat and qty[(c, u, p)] > 0:
                    by_unit[u].append(p)
            unit_name = max(
                by_unit,
                key=lambda u: (len(by_unit[u]), sum(cost[(cat, u, p)] for p in by_unit[u])),
                default=None,
            )
            if unit_name and len(by_unit[unit_name]) >= 2:
                ps = sorted(by_unit[unit_name])
                rates = {
                    p: cost[(cat, unit_name, p)] / Decimal(repr(qty[(cat, unit_name, p)]))
                    for p in ps
                }
                best = min(ps, key=lambda p: rates[p])
                quantity = sum(qty[(cat, unit_name, p)] for p in ps)
                result[cat] = {
                    "provider": best,
                    "basis": "unit_cost",
                    "unit": unit_name,
                    "unit_costs": {p: float(rates[p]) for p in ps},
                    "costs": {p: spend[(cat, p)] for p in present},
                    "quantity": quantity,
                    # what the whole category's usage would cost at each provider's rate
                    "equivalent": {p: rates[p] * Decimal(repr(quantity)) for p in ps},
                }
            else:
                costs = {p: spend[(cat, p)] for p in present}
                best = min(costs, key=lambda p: costs[p])
                result[cat] = {"provider": best, "basis": "total", "costs": costs}
        overall: dict[str, Any]
        full = [
            p
            for p in providers
            if all(p in (r.get("equivalent") or r["costs"]) for r in result.values())
        ]
        if result and len(full) >= 2:
            workload = {
                p: sum(((r.get("equivalent") or r["costs"])[p] for r in result.values()), ZERO)
                for p in full
            }
            best = min(workload, key=lambda p: workload[p])
            overall = {"provider": best, "basis": "comparable_workload", "costs": workload}
        elif totals:
            best = min(totals, key=lambda p: totals[p])
            overall = {"provider": best, "basis": "total", "costs": dict(totals)}
        else:
            overall = {}
        return result, overall

    # ------------------------------------------------------------------ anomalies
    def _series(
        self, agg: list[dict[str, Any]], key: str
    ) -> dict[tuple[str, str], dict[date, Decimal]]:
        series: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )
        for a in agg:
            if a["cc"] == "Usage":
                series[(a["p"], a[key])][a["day"]] += a["billed"]
        return series

    def _anomalies(self, agg: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Day-over-day increases whose robust z-score (median/MAD) exceeds the threshold."""
        found = []
        for (provider, service), by_day in sorted(self._series(agg, "svc").items()):
            days = sorted(by_day)
            if len(days) < 7:
                continue
            first = days[0]
            values = [
                by_day.get(first + timedelta(d), ZERO) for d in range((days[-1] - first).days + 1)
            ]
            diffs = [float(b - a) for a, b in itertools.pairwise(values)]
            med = statistics.median(diffs)
            mad = statistics.median(abs(d - med) for d in diffs)
            level = float(statistics.median(values)) or 1.0
            for i, d in enumerate(diffs, start=1):
                if d <= 0 or d < self.anomaly_min_increase * level:
                    continue
                z = 0.6745 * (d - med) / mad if mad else float("inf")
                if z > self.anomaly_threshold:
                    found.append(
                        {
                            "provider": provider,
                            "service": service,
                            "day": first + timedelta(days=i),
                            "cost": values[i],
                            "previous": values[i - 1],
                            "increase": values[i] - values[i - 1],
                            "score": z if z != float("inf") else 999.0,
                        }
                    )
        return found

    # ------------------------------------------------------------------ forecast
    def _forecast(
        self, agg: list[dict[str, Any]], providers: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Month-end: actual so far in the last month + mean daily usage of its last 7 days."""
        if not agg:
            return {}
        last = max(a["day"] for a in agg)
        month_start = last.replace(day=1)
        month_days = calendar.monthrange(last.year, last.month)[1]
        remaining = month_days - last.day
        out = {}
        for p in providers:
            actual = sum(
                (a["billed"] for a in agg if a["p"] == p and a["day"] >= month_start), ZERO
            )
            window = [last - timedelta(days=i) for i in range(min(7, last.day))]
            usage = sum(
                (
                    a["billed"]
                    for a in agg
                    if a["p"] == p and a["cc"] == "Usage" and a["day"] in window
                ),
                ZERO,
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

    # ------------------------------------------------------------------ recommendations
    def _recommend(
        self,
        agg: list[dict[str, Any]],
        providers: list[str],
        cheapest: dict[str, dict[str, Any]],
        n_days: int,
    ) -> list[Recommendation]:
        if not n_days:
            return []
        per_month = DAYS_PER_MONTH / n_days
        r = rules()
        out: list[Recommendation] = []

        def justify(pred: Any) -> list[dict[str, Any]]:
            rows: dict[tuple[str, str, str, str, str], list[Any]] = {}
            for a in agg:
                if a["cc"] == "Usage" and pred(a):
                    key = (a["p"], a["cat"], a["svc"], a["region"], a["unit"])
                    acc = rows.setdefault(key, [ZERO, 0.0, 0])
                    acc[0] += a["billed"]
                    acc[1] += float(a["qty"] or 0)
                    acc[2] += a["n"]
            return [
                {
                    "ProviderName": k[0],
                    "ServiceCategory": k[1],
                    "ServiceName": k[2],
                    "RegionId": k[3],
                    "PricingUnit": k[4],
                    "BilledCost": v[0],
                    "PricingQuantity": v[1],
                    "rows": v[2],
                }
                for k, v in sorted(rows.items())
            ]

        # 1. usage in a category where another provider's unit cost is lower
        for cat, c in cheapest.items():
            if c["basis"] != "unit_cost":
                continue
            best_rate = Decimal(repr(c["unit_costs"][c["provider"]]))
            for p, rate_f in c["unit_costs"].items():
                rate = Decimal(repr(rate_f))
                if p == c["provider"]:
                    continue
                p_qty = sum(
                    float(a["qty"] or 0) * units()[a["unit"]][1]
                    for a in agg
                    if a["p"] == p
                    and a["cat"] == cat
                    and a["cc"] == "Usage"
                    and units().get(a["unit"], ("",))[0] == c["unit"]
                )
                saving = (rate - best_rate) * Decimal(repr(p_qty)) * per_month
                if saving >= r["move_to_cheaper"]["min_monthly_saving"]:
                    out.append(
                        Recommendation(
                            "move_to_cheaper",
                            p,
                            f"{cat} on {p} costs {rate:.4f} per {c['unit']}, "
                            f"{c['provider']} {best_rate:.4f}: move or renegotiate",
                            cents(saving),
                            justify(lambda a, p=p, cat=cat: a["p"] == p and a["cat"] == cat),
                        )
                    )
        # 2. steady on-demand compute: a commitment (savings plan / CUD / reservation)
        rule = r["commit_steady_compute"]
        for p in providers:
            by_day: dict[date, Decimal] = defaultdict(Decimal)
            for a in agg:
                if a["p"] == p and a["cat"] == "Compute" and a["cc"] == "Usage":
                    by_day[a["day"]] += a["billed"]
            if len(by_day) < rule["min_days"]:
                continue
            values = [float(v) for v in by_day.values()]
            mean = statistics.fmean(values)
            if mean <= 0 or statistics.pstdev(values) / mean > float(rule["max_variation"]):
                continue
            saving = sum(by_day.values(), ZERO) * per_month * rule["discount"]
            if saving >= rule["min_monthly_saving"]:
                out.append(
                    Recommendation(
                        "commit_steady_compute",
                        p,
                        f"compute usage on {p} is steady: a 1-year commitment saves about "
                        f"{rule['discount'] * 100:.0f}%",
                        cents(saving),
                        justify(lambda a, p=p: a["p"] == p and a["cat"] == "Compute"),
                    )
                )
        # 3. network egress above its share of usage
        rule = r["reduce_egress"]
        for p in providers:
            usage = sum((a["billed"] for a in agg if a["p"] == p and a["cc"] == "Usage"), ZERO)
            net = sum(
                (
                    a["billed"]
                    for a in agg
                    if a["p"] == p and a["cc"] == "Usage" and a["cat"] == "Networking"
                ),
                ZERO,
            )
            if usage <= 0 or net / usage <= rule["max_share"]:
                continue
            saving = net * per_month * rule["saving_share"]
            if saving >= rule["min_monthly_saving"]:
                out.append(
                    Recommendation(
                        "reduce_egress",
                        p,
                        f"networking is {net / usage:.0%} of usage on {p}: cache (CDN), keep "
                        "traffic in-region, compress",
                        cents(saving),
                        justify(lambda a, p=p: a["p"] == p and a["cat"] == "Networking"),
                    )
                )
        return sorted(out, key=lambda x: x.monthly_saving, reverse=True)


def _json_key(key: str | None) -> str:
    return '"' + (key or "").replace('"', '\\"') + '"'


def provider_records(provider: str, start: date, end: date) -> list[Any]:
    """CostRecords from a registered provider's cost API (Cost Explorer, BigQuery, ...)."""
    from providers.registry import get_provider

    return get_provider(provider).get_cost().get_costs(start, end, "DAILY", ("service",))


def run_comparison(
    *,
    sources: list[str],
    providers: list[str],
    start: date | None,
    end: date | None,
    tag_key: str | None = None,
    rates: Mapping[str, Decimal] | None = None,
    currency: str | None = None,
    strict: bool = False,
    opener: Callable[[str], tuple[CloudStorage, str]] | None = None,
) -> tuple[CostComparison, FocusFrame]:
    """Read sources, fetch providers (a failing one is reported missing unless strict).

    opener resolves storage URLs of sources (blocks.open_location also knows block:NAME).
    """
    from providers.errors import CloudError

    frame = FocusFrame(start=start, end=end)
    try:
        missing: dict[str, str] = {}
        for spec in sources:
            frame.add_source(spec, opener=opener)
        for name in providers:
            if start is None or end is None:
                raise CostAnalysisError(
                    "a provider's API needs a date range",
                    operation="compare",
                    hint="Give --from and --to",
                )
            try:
                frame.add_records(provider_records(name, start, end), name=f"api:{name}")
            except CloudError as exc:
                if strict:
                    raise
                missing[name] = str(exc)
        if not frame.parts:
            raise CostAnalysisError(
                "no cost data: " + "; ".join(f"{p}: {m}" for p, m in missing.items()),
                operation="compare",
                hint="Check the providers' credentials or give --source files",
            )
        comparison = CloudCostAnalyzer(rates=rates, currency=currency).compare(
            frame, tag_key=tag_key, missing=missing
        )
    except BaseException:
        frame.close()  # removes downloaded sources too
        raise
    for name, total in comparison.totals.items():
        record_cost_total(name, float(total), comparison.currency)
    return comparison, frame


def read_rates(path: str) -> dict[str, Decimal]:
    """An exchange-rate table: CSV lines 'CURRENCY,RATE' (units of the target per unit)."""
    import csv

    out: dict[str, Decimal] = {}
    with open(path, encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].startswith("#") or row[0].lower() == "currency":
                continue
            try:
                out[row[0].strip().upper()] = Decimal(row[1].strip())
            except Exception as exc:
                raise CostAnalysisError(
                    f"file {path}, row {n}: '{','.join(row)}' is not 'CURRENCY,RATE'",
                    operation="read rates",
                ) from exc
    return out
