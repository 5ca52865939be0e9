"""What the per-cloud settings dataclasses share: one way from the environment to settings.

Each cloud has one frozen settings type (AWSSettings, GCPSettings, AzureSettings, in the
cloud's `settings` module), in the spirit of obstore's per-cloud config types: the
provider takes it, a Prefect block turns its fields into it, and `from_env` reads the
cloud's standard variables. Overrides win over the environment; empty overrides (None or
"") are ignored, so a block's unset field falls back to the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from providers.errors import ConfigurationError

S = TypeVar("S")


def environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """The mapping to read: env when given, else os.environ."""
    return os.environ if env is None else env


def field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def build_settings(
    cls: type[S], provider: str, values: dict[str, Any], overrides: Mapping[str, Any]
) -> S:
    """cls(**values) with the non-empty overrides applied; unknown names are refused."""
    merged = dict(values)
    merged.update({k: v for k, v in overrides.items() if v is not None and v != ""})
    known = field_names(cls)
    unknown = set(merged) - known
    if unknown:
        raise ConfigurationError(
            f"unknown {provider} settings: {', '.join(sorted(unknown))}",
            provider=provider,
            operation="configure",
            hint=f"Known settings: {', '.join(sorted(known))}",
        )
    return cls(**merged)


def check_overrides(cls: type, provider: str, overrides: Mapping[str, Any]) -> None:
    """Refuse keyword overrides that are not fields of the settings type."""
    unknown = set(overrides) - field_names(cls)
    if unknown:
        raise ConfigurationError(
            f"unknown {provider} settings: {', '.join(sorted(unknown))}",
            provider=provider,
            operation="configure",
            hint=f"Known settings: {', '.join(sorted(field_names(cls)))}",
        )
