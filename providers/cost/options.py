"""The options of one cost comparison, parsed and checked once for the CLI and the flow.

`specify cloud cost` and the `cost-compare` flow both build a CompareOptions (the CLI from
its flags, the flow from its parameters) and take every derived value from it: the
period the sample data covers, the period a provider's API is asked for, the group key,
the exchange rates as Decimal. Bad values raise ConfigurationError naming the option.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from providers.cost import focus
from providers.errors import ConfigurationError

GROUPS = ("category", "service", "region", "charge")
MEASURES = ("auto", "billed", "effective")
#: the days a provider's API is asked for when no period is given
API_DAYS = 30


def _bad(option: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{option}: {message}", operation="cost options")


def parse_date(option: str, value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(option, f"'{value}' is not a date (use YYYY-MM-DD)") from None


def parse_rates(rates: Mapping[str, Any] | None, option: str = "--rates") -> dict[str, Decimal]:
    """CURRENCY -> rate (units of the report currency per unit), rates as decimal text."""
    out: dict[str, Decimal] = {}
    for code, value in (rates or {}).items():
        cur = str(code).strip().upper()
        if cur not in focus.currencies():
            raise _bad(option, f"'{code}' is not an ISO 4217 currency code")
        text = str(value).strip()
        try:
            rate = Decimal(text)
        except InvalidOperation:
            raise _bad(option, f"rate for {cur} '{value}' is not a number") from None
        if "_" in text or not rate.is_finite() or rate <= 0:
            raise _bad(option, f"rate for {cur} '{value}' is not a positive number")
        out[cur] = rate
    return out


def read_rates(path: str | Path) -> dict[str, Decimal]:
    """An exchange-rate table: CSV lines 'CURRENCY,RATE' (units of the target per unit)."""
    raw: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for n, row in enumerate(csv.reader(fh), start=1):
                if not row or row[0].startswith("#") or row[0].strip().lower() == "currency":
                    continue
                if len(row) != 2:
                    raise _bad(
                        "--rates", f"file {path}, row {n}: '{','.join(row)}' is not 'CURRENCY,RATE'"
                    )
                raw[row[0]] = row[1]
    except OSError as exc:
        raise _bad("--rates", f"cannot read {path} ({exc.strerror or exc})") from exc
    return parse_rates(raw, f"--rates {path}")


@dataclass(frozen=True)
class CompareOptions:
    """Everything one comparison needs, checked."""

    start: date | None = None
    end: date | None = None
    sources: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    provider_blocks: tuple[str, ...] = ()
    group_by: str = "category"  # category | service | region | charge | tag:KEY
    rates: Mapping[str, Decimal] = field(default_factory=dict)
    currency: str | None = None
    measure: str = "auto"
    strict: bool = False
    sample: bool = False
    output: str | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise _bad("--to", f"{self.end} is not after --from {self.start}")
        if self.group_by not in GROUPS and not (
            self.group_by.startswith("tag:") and len(self.group_by) > 4
        ):
            raise _bad(
                "--group-by", f"'{self.group_by}' is not one of {', '.join(GROUPS)}, tag:KEY"
            )
        if self.measure not in MEASURES:
            raise _bad("--measure", f"'{self.measure}' is not one of {', '.join(MEASURES)}")
        if self.currency is not None:
            if self.currency.upper() not in focus.currencies():
                raise _bad("--currency", f"'{self.currency}' is not an ISO 4217 currency code")
            object.__setattr__(self, "currency", self.currency.upper())

    @classmethod
    def build(
        cls,
        *,
        start: date | str | None = None,
        end: date | str | None = None,
        sources: Sequence[str] = (),
        providers: Sequence[str] = (),
        provider_blocks: Sequence[str] = (),
        group_by: str = "category",
        tag_key: str | None = None,
        rates: Mapping[str, Any] | None = None,
        rates_file: str | None = None,
        currency: str | None = None,
        measure: str = "auto",
        strict: bool = False,
        sample: bool = False,
        output: str | None = None,
    ) -> CompareOptions:
        """From CLI flags or flow parameters (dates as text or date, rates as text)."""
        if group_by == "tag":
            if not tag_key:
                raise _bad("--group-by", "'tag' needs a tag key (tag:KEY)")
            group_by = f"tag:{tag_key}"
        table = read_rates(rates_file) if rates_file else {}
        table |= parse_rates(rates)
        return cls(
            start=parse_date("--from", start),
            end=parse_date("--to", end),
            sources=tuple(sources),
            providers=tuple(providers),
            provider_blocks=tuple(provider_blocks),
            group_by=group_by,
            rates=table,
            currency=currency or None,
            measure=measure,
            strict=strict,
            sample=sample,
            output=output,
        )

    @property
    def tag_key(self) -> str | None:
        return self.group_by[4:] if self.group_by.startswith("tag:") else None

    @property
    def uses_sample(self) -> bool:
        """Generated sample data is compared: asked for, or nothing else to read."""
        return self.sample or not (self.sources or self.providers or self.provider_blocks)

    def sample_period(self, today: date | None = None) -> tuple[date, int]:
        """First day and length of the generated sample: the period asked for, else the
        last full month (at least 7 days)."""
        today = today or date.today()
        first = self.start or (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        last = self.end or (first + timedelta(days=32)).replace(day=1)
        return first, max((last - first).days, 7)

    def api_period(self, today: date | None = None) -> tuple[date, date]:
        """The period a provider's cost API is asked for: [start, end), default the last
        API_DAYS days."""
        today = today or date.today()
        return self.start or today - timedelta(days=API_DAYS), self.end or today

    def rates_text(self) -> dict[str, str]:
        """Rates as decimal strings (JSON- and Prefect-parameter-safe, exact)."""
        return {k: str(v) for k, v in self.rates.items()}
