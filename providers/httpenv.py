"""What the environment tells requests-based SDK clients: proxies and a CA bundle.

A requests session that trusts the environment re-reads proxies, NO_PROXY and the CA
bundle variables from os.environ on every request; with a hundred variables that scan
costs about a quarter of the client CPU of a small blob upload. So the environment is
read once here: a client lets requests consult it per request only when a proxy is
named (NO_PROXY must be matched per URL), and otherwise gets the CA bundle explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestsEnv:
    proxies: bool  # some *_proxy variable (any case) is set
    ca_bundle: str | None  # REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE (requests' own order)

    @property
    def explicit_ca_bundle(self) -> str | None:
        """The bundle a client must be handed: None when requests reads it per request."""
        return None if self.proxies else self.ca_bundle


def requests_env(environ: Mapping[str, str] | None = None) -> RequestsEnv:
    env = os.environ if environ is None else environ
    proxies = any(value and name.lower().endswith("_proxy") for name, value in env.items())
    bundle = env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None
    return RequestsEnv(proxies=proxies, ca_bundle=bundle)


def configure_session(session: Any, env: RequestsEnv | None = None) -> Any:
    """Make a requests.Session (or subclass) read the environment the way requests_env says."""
    env = env or requests_env()
    session.trust_env = env.proxies
    if env.explicit_ca_bundle:
        session.verify = env.explicit_ca_bundle
    return session
