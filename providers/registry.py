"""The provider registry: built-in clouds, third-party entry points and runtime registrations.

Built-ins and entry points are recorded as import targets and loaded on first `get`, so
listing providers imports no SDK. Third-party packages add a cloud through the entry-point
group `specify_cloud.providers` (name = provider name, value = "module:CloudProviderClass").
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from providers.base import CloudProvider
from providers.errors import ProviderNotAvailableError, ProviderNotInitializedError

ENTRY_POINT_GROUP = "specify_cloud.providers"

ProviderFactory = Callable[[], CloudProvider]

#: environment variables providers read when they are built (credentials, endpoints, roots)
SETTINGS_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_", "STORAGE_EMULATOR_HOST", "SPECIFY_")


def _settings_fingerprint() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(SETTINGS_PREFIXES)))


@dataclass(frozen=True)
class ProviderInfo:
    """What `specify cloud providers` shows for one provider."""

    name: str
    target: str  # "module:Class", or "<instance>" for runtime registrations
    extra: str = ""
    sdk_modules: tuple[str, ...] = ()
    source: str = "builtin"  # builtin | entry point | registered

    def sdk_installed(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.sdk_modules)

    def credentials_found(self) -> bool | None:
        """Ask the provider class (no network call); None when unknown or not loadable."""
        if self.source == "registered" or not self.sdk_installed():
            return None
        try:
            found: bool | None = _load_target(self.target).credentials_found()
        except Exception:  # a provider package that fails to import has nothing to show
            return None
        return found


BUILTIN_PROVIDERS: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        "local", "providers.local.provider:LocalProvider", "local", ("cryptography", "pyarrow")
    ),
    ProviderInfo("aws", "providers.aws.provider:AWSProvider", "aws", ("boto3",)),
    ProviderInfo(
        "gcp",
        "providers.gcp.provider:GCPProvider",
        "gcp",
        ("google.cloud.storage", "google.cloud.bigquery"),
    ),
    ProviderInfo(
        "azure", "providers.azure.provider:AzureProvider", "azure", ("azure.storage.blob",)
    ),
)


def _load_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


class ProviderRegistry:
    """Maps provider names to provider instances.

    A provider built from its factory is reused until the environment it was built from
    changes (say SPECIFY_LOCAL_ROOT or AWS_ENDPOINT_URL), then built again; a registered
    instance is always returned as it is.
    """

    def __init__(self, *, builtins: bool = True, discover: bool = True) -> None:
        self._lock = threading.RLock()
        self._infos: dict[str, ProviderInfo] = {}
        self._factories: dict[str, ProviderFactory] = {}
        self._instances: dict[str, CloudProvider] = {}
        self._built: dict[str, tuple[tuple[tuple[str, str], ...], CloudProvider]] = {}
        self._discover = discover
        self._discovered = False
        if builtins:
            for info in BUILTIN_PROVIDERS:
                self._infos[info.name] = info

    def register(self, name: str, provider: CloudProvider | ProviderFactory) -> None:
        """Register an instance, or a factory (such as a CloudProvider subclass)."""
        with self._lock:
            self._instances.pop(name, None)
            self._built.pop(name, None)
            self._factories.pop(name, None)
            if isinstance(provider, CloudProvider):
                self._instances[name] = provider
                target = f"{type(provider).__module__}:{type(provider).__name__}"
            else:
                self._factories[name] = provider
                target = getattr(provider, "__qualname__", repr(provider))
            self._infos[name] = ProviderInfo(name, target, source="registered")

    def unregister(self, name: str) -> None:
        with self._lock:
            self._instances.pop(name, None)
            self._built.pop(name, None)
            self._factories.pop(name, None)
            self._infos.pop(name, None)

    def discover(self) -> None:
        """Read the entry-point group once; built-ins and registrations keep precedence."""
        with self._lock:
            if self._discovered or not self._discover:
                return
            self._discovered = True
            from importlib.metadata import entry_points  # (its import alone: ~20 ms)

            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name not in self._infos:
                    self._infos[ep.name] = ProviderInfo(ep.name, ep.value, source="entry point")

    def infos(self) -> list[ProviderInfo]:
        self.discover()
        return sorted(self._infos.values(), key=lambda i: (i.source != "builtin", i.name))

    def list_available(self) -> list[str]:
        """Names of providers whose SDKs are installed."""
        return [i.name for i in self.infos() if i.source != "builtin" or i.sdk_installed()]

    def require(self, name: str) -> CloudProvider:
        """The provider called name; ProviderNotInitializedError / ProviderNotAvailableError."""
        if name not in self._infos:  # entry points never shadow a known name: no scan
            self.discover()  # (reading every installed package's entry points: ~30 ms)
        with self._lock:
            if name in self._instances:
                return self._instances[name]
            settings = _settings_fingerprint()
            built = self._built.get(name)
            if built is not None and built[0] == settings:
                return built[1]
            info = self._infos.get(name)
            if info is None:
                known = ", ".join(sorted(self._infos)) or "none"
                raise ProviderNotInitializedError(
                    f"no provider named '{name}' (known: {known})", provider=name, operation="get"
                )
            if name in self._factories:
                factory: ProviderFactory = self._factories[name]
            else:
                missing = [m for m in info.sdk_modules if importlib.util.find_spec(m) is None]
                if missing:
                    raise ProviderNotAvailableError(
                        f"the Python package for '{missing[0]}' is not installed",
                        provider=name,
                        operation="import",
                        hint=f"Install it with: pip install 'specify-cloud[{info.extra or 'all'}]'",
                    )
                factory = _load_target(info.target)
            provider = factory()
            self._built[name] = (settings, provider)
            return provider

    def get(self, name: str) -> CloudProvider | None:
        """The provider called name, or None when it is unknown or cannot be built."""
        try:
            return self.require(name)
        except (ProviderNotInitializedError, ProviderNotAvailableError):
            return None


_registry = ProviderRegistry()


def default_registry() -> ProviderRegistry:
    return _registry


def register_provider(name: str, provider: CloudProvider | ProviderFactory) -> None:
    _registry.register(name, provider)


def get_provider(name: str) -> CloudProvider:
    """The registered provider called name; raises when unknown or its SDK is missing."""
    return _registry.require(name)
