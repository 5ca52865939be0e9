"""Whether the environment configures HTTP proxies or CA bundles.

requests re-reads proxies, NO_PROXY and CA bundles from os.environ on every request when
its session trusts the environment; with a hundred variables that scan costs about a
quarter of the client CPU of a small blob upload. SDK clients built on requests trust the
environment only when it actually names one of these settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_CA_BUNDLES = frozenset({"requests_ca_bundle", "curl_ca_bundle"})


def requests_env_in_use(environ: Mapping[str, str] | None = None) -> bool:
    """True when a *_proxy variable (any case) or a requests CA bundle variable is set."""
    env = os.environ if environ is None else environ
    for name, value in env.items():
        lower = name.lower()
        if value and (lower.endswith("_proxy") or lower in _CA_BUNDLES):
            return True
    return False
