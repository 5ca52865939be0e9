"""Per-cloud deployment rules: sizes, instance types, region names, target parsing.

targets = parse_targets("aws:us-east-1,gcp:us-central1,local", size="small")
resolve_size("gcp", "small") == "e2-small"; hourly_price("aws", "t3.small")
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from providers.errors import ConfigurationError
from providers.registry import default_registry

# --------------------------------------------------------------------------- sizes
SIZE_NAMES: tuple[str, ...] = ("small", "medium", "large")

# What an explicit instance type looks like per cloud (anything else is a typo or a size).
_TYPE_RULES = {
    "aws": re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"),  # t3.small, m7g.2xlarge
    "gcp": re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$"),  # e2-small, n2-standard-4
    "azure": re.compile(r"^(Standard|Basic)_[A-Za-z0-9_]+$"),  # Standard_B1ms
    "local": re.compile(r"^process$"),
}
# Region names per cloud (the shapes of the documented lists).
_REGION_RULES = {
    "aws": (re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"), "us-east-1"),
    "gcp": (re.compile(r"^[a-z]+-[a-z]+\d{1,2}(-[a-z])?$"), "us-central1"),
    "azure": (re.compile(r"^[a-z]+\d?$"), "eastus"),
    "local": (re.compile(r"^[a-z0-9][a-z0-9-]*$"), "local"),
}
_GENERIC_REGION = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$|^[a-z0-9]$")
DEFAULT_REGIONS = {"local": "local"}


@cache
def size_table() -> dict[str, Any]:
    """providers/data/sizes.json: sizes per cloud and hourly list prices."""
    text = resources.files("providers").joinpath("data/sizes.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def resolve_size(provider: str, size: str | None) -> str | None:
    """The instance type for a size name or an explicit type; None = the provider's default.

    ConfigurationError (resource 'size') when the value is neither.
    """
    table = size_table()
    value = (size or "").strip()
    if not value:
        value = table["default_size"]
    if value in table["sizes"]:
        mapped: str | None = table["sizes"][value].get(provider)
        return mapped
    known = table["hourly_usd"].get(provider, {})
    rule = _TYPE_RULES.get(provider)
    if (
        value in known
        or (rule is not None and rule.match(value))
        or (rule is None and re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", value))
    ):
        return value
    raise ConfigurationError(
        f"'{value}' is neither a size ({'|'.join(SIZE_NAMES)}) nor an instance type for {provider}",
        operation="deploy",
        resource="size",
        hint=f"Use --size {'|'.join(SIZE_NAMES)}, or an instance type such as "
        f"{table['sizes']['small'].get(provider, 't3.small')}",
    )


def hourly_price(provider: str, instance_type: str | None) -> Decimal | None:
    """The list price per hour in USD, where the data file knows it."""
    if not instance_type:
        return None
    price = size_table()["hourly_usd"].get(provider, {}).get(instance_type)
    return Decimal(price) if price is not None else None


# --------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class DeployTarget:
    """Where to deploy: a provider, a region and a size or an explicit instance type."""

    provider: str
    region: str
    size: str | None = None
    instance_type: str | None = None

    def __str__(self) -> str:
        return f"{self.provider}:{self.region}"


def _target_error(text: str, why: str, hint: str) -> ConfigurationError:
    return ConfigurationError(
        f"target '{text}': {why}", operation="deploy", resource="to", hint=hint
    )


def parse_target(text: str, *, known: Sequence[str], size: str | None = None) -> DeployTarget:
    """Parse PROVIDER[:REGION[:SIZE-OR-TYPE]]; the region is optional only for local."""
    raw = text.strip()
    provider, _, rest = raw.partition(":")
    region, _, own_size = rest.partition(":")
    provider = provider.strip().lower()
    if not provider:
        raise _target_error(
            text, "the provider is missing", "Write PROVIDER:REGION, e.g. aws:us-east-1"
        )
    if provider not in known:
        raise _target_error(
            text,
            f"unknown provider '{provider}'",
            f"Known providers: {', '.join(sorted(known))}",
        )
    region = region.strip() or DEFAULT_REGIONS.get(provider, "")
    rule, example = _REGION_RULES.get(provider, (_GENERIC_REGION, "region-1"))
    if not region:
        raise _target_error(text, f"{provider} needs a region", f"Write {provider}:{example}")
    if not rule.match(region):
        raise _target_error(
            text,
            f"'{region}' is not a region name for {provider}",
            f"Region names look like {provider}:{example}",
        )
    chosen = own_size.strip() or size
    instance_type = resolve_size(provider, chosen)
    return DeployTarget(provider, region, chosen or size_table()["default_size"], instance_type)


def parse_targets(
    text: str | Sequence[str], *, known: Sequence[str] | None = None, size: str | None = None
) -> list[DeployTarget]:
    """Parse 'aws:us-east-1,gcp:us-central1,azure:eastus,local' (or a list of such items).

    known defaults to every provider of the default registry. Duplicates are dropped.
    """
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    items = [i for i in (i.strip() for i in items) if i]
    if not items:
        raise ConfigurationError(
            "no target given",
            operation="deploy",
            resource="to",
            hint="Pass --to aws:us-east-1,gcp:us-central1,azure:eastus,local",
        )
    names = list(known) if known is not None else [i.name for i in default_registry().infos()]
    targets: list[DeployTarget] = []
    for item in items:
        target = parse_target(item, known=names, size=size)
        if all((t.provider, t.region) != (target.provider, target.region) for t in targets):
            targets.append(target)
    return targets
