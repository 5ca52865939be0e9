"""Deploy one artifact to several clouds in parallel; destroy and inspect a deployment by id.

    deployer = MultiCloudDeployer()                       # the default provider registry
    targets = parse_targets("aws:us-east-1,gcp:us-central1,local", size="small")
    report = deployer.deploy("./app", targets, port=8080)
    deployer.status(report.deployment_id); deployer.destroy(report.deployment_id)

Every resource is tagged with the deployment id (`artifact.DEPLOYMENT_TAG`). A small record
per deployment (which targets, which regions) is kept in the state directory so that
`status` and `destroy` know where to look; `destroy` also sweeps each provider's default
region by tag, so a lost record still leaves nothing behind there.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from providers.artifact import (
    DEPLOYMENT_TAG,
    PreparedArtifact,
    check_deployment_id,
    deployment_tags,
    prepare_artifact,
    remove_staged,
    stage_artifact,
    startup_script,
)
from providers.base import (
    CloudCompute,
    CloudProvider,
    CloudStorage,
    DeploymentResult,
    Instance,
    InstanceSpec,
)
from providers.errors import CloudError, ConfigurationError, DeploymentError, NotFoundError
from providers.registry import ProviderRegistry, default_registry
from providers.telemetry import record_operation
from providers.vm import VMProvider

Strategy = Literal["best-effort", "all-or-nothing"]
STRATEGIES: tuple[str, ...] = ("best-effort", "all-or-nothing")
#: tag recording the port the app listens on, so a reused instance reports its address
PORT_TAG = "specify-port"  # label-safe, like artifact.DEPLOYMENT_TAG
LIVE_STATES = frozenset({"pending", "running"})
GONE_STATES = frozenset({"terminated", "shutting-down", "deleted"})

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


# --------------------------------------------------------------------------- one target
def _records_deploy_metrics(fn: Callable[..., DeploymentResult]) -> Callable[..., DeploymentResult]:
    """Record the seed's cloud.deploy.count / .duration for every provider's deploy."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> DeploymentResult:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record_operation("deploy", kwargs["provider"], time.perf_counter() - started, None)

    return wrapper


@_records_deploy_metrics
def deploy_instance(
    compute: CloudCompute,
    storage: CloudStorage,
    artifact: Path | str,
    *,
    provider: str,
    region: str,
    deployment_id: str,
    instance_type: str | None = None,
    image: str = "",
    run_command: str | None = None,
    port: int | None = None,
    timeout: float = 300.0,
    url_for: Callable[[str], str] | None = None,
    workdir: str | None = None,
    detach: bool = True,
    env: Mapping[str, str] | None = None,
) -> DeploymentResult:
    """Find-or-create: the generic body of a provider's deploy over its compute and storage.

    A live instance tagged with the deployment id is reused (nothing is uploaded or created);
    otherwise the artifact is staged, an instance started with the start-up script, and
    waited for. Errors propagate as CloudErrors; the deployer turns them into results.
    """
    started = time.perf_counter()
    check_deployment_id(deployment_id)
    existing = find_instances(compute, deployment_id, region)
    live = [i for i in existing if i.state in LIVE_STATES]
    artifact_uri: str | None = None
    if live:
        instance = compute.wait_until_running(live[0].instance_id, timeout=timeout)
    else:
        with prepare_artifact(artifact, run_command) as prepared:
            staged = stage_artifact(storage, prepared, deployment_id, url_for=url_for)
            artifact_uri = staged.uri
            spec = InstanceSpec(
                name=f"specify-{deployment_id}",
                image=image,
                instance_type=instance_type or "",
                user_data=startup_script(
                    staged.url,
                    prepared.run_command,
                    port=port,
                    deployment_id=deployment_id,
                    workdir=workdir,
                    detach=detach,
                ),
                tags={**deployment_tags(deployment_id), **({PORT_TAG: str(port)} if port else {})},
                port=port,
                region=region,
                env=dict(env or {}),
            )
        created = compute.create_instance(spec)
        instance = compute.wait_until_running(created.instance_id, timeout=timeout)
    if instance.state != "running":
        raise DeploymentError(
            f"instance {instance.instance_id} is {instance.state}, not running",
            provider=provider,
            operation="deploy",
            resource=region,
            hint=f"Inspect it with `specify cloud status {deployment_id}`",
        )
    address = address_of(instance, port)
    return DeploymentResult(
        provider=provider,
        region=region,
        deployment_id=deployment_id,
        state="running",
        instance_id=instance.instance_id,
        address=address,
        artifact_url=artifact_uri,
        duration_s=time.perf_counter() - started,
        hourly_price=hourly_price(provider, instance.instance_type or instance_type),
    )


def address_of(instance: Instance, port: int | None = None) -> str | None:
    """host:port of an instance; the port tag wins, since a reused instance keeps its port."""
    port_text = instance.tags.get(PORT_TAG) or (str(port) if port is not None else None)
    address = instance.public_address or instance.private_address
    if address and port_text and ":" not in address:
        address = f"{address}:{port_text}"
    return address


def find_instances(compute: CloudCompute, deployment_id: str, region: str | None) -> list[Instance]:
    """Instances tagged with the deployment id (in region, when the provider reports one)."""
    found = compute.list_instances(tags={DEPLOYMENT_TAG: deployment_id})
    # a GCP instance reports its zone (us-central1-a) for the region us-central1
    return [
        i
        for i in found
        if i.state not in GONE_STATES
        and (region is None or i.region is None or i.region.startswith(region))
    ]


def destroy_instances(
    compute: CloudCompute, storage: CloudStorage | None, deployment_id: str, region: str | None
) -> int:
    """Terminate the deployment's instances and delete its staged artifacts; returns the count
    of instances terminated."""
    count = 0
    for instance in find_instances(compute, deployment_id, region):
        if compute.terminate_instance(instance.instance_id):
            count += 1
    if storage is not None:
        remove_staged(storage, deployment_id)
    return count


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class DeploymentRecord:
    """What this machine remembers of a deployment: where it went."""

    deployment_id: str
    targets: tuple[DeployTarget, ...]
    regions: Mapping[str, str] = field(default_factory=dict)  # "provider:region" -> reported
    strategy: str = "best-effort"
    artifact: str = ""
    created: str = ""


def default_state_dir() -> Path:
    return Path(
        os.environ.get("SPECIFY_DEPLOY_STATE") or Path.home() / ".specify-cloud" / "deployments"
    ).expanduser()


class DeploymentStore:
    """One JSON file per deployment id in a directory."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root else default_state_dir()
        self._lock = threading.Lock()

    def _path(self, deployment_id: str) -> Path:
        return self.root / f"{check_deployment_id(deployment_id)}.json"

    def load(self, deployment_id: str) -> DeploymentRecord | None:
        path = self._path(deployment_id)
        if not path.is_file():
            return None
        data = json.loads(path.read_text("utf-8"))
        return DeploymentRecord(
            deployment_id=data["deployment_id"],
            targets=tuple(DeployTarget(**t) for t in data["targets"]),
            regions=data.get("regions", {}),
            strategy=data.get("strategy", "best-effort"),
            artifact=data.get("artifact", ""),
            created=data.get("created", ""),
        )

    def save(self, record: DeploymentRecord) -> None:
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            path = self._path(record.deployment_id)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(record), fh, indent=2)
            os.replace(tmp, path)

    def delete(self, deployment_id: str) -> None:
        self._path(deployment_id).unlink(missing_ok=True)


# --------------------------------------------------------------------------- engine
@dataclass(frozen=True)
class DeploymentReport:
    """The outcome of one deploy: one DeploymentResult per target."""

    deployment_id: str
    strategy: str
    results: tuple[DeploymentResult, ...]
    duration_s: float = 0.0
    dry_run: bool = False
    targets: tuple[DeployTarget, ...] = ()
    run_command: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def new_deployment_id() -> str:
    return f"dep-{uuid.uuid4().hex[:10]}"


def _compute_for(provider: CloudProvider, region: str | None) -> CloudCompute:
    """The compute a deployment in region uses: where a VM provider's deploy puts it
    (a GCP region means a zone of it), else get_compute(region) when it takes one."""
    if isinstance(provider, VMProvider):
        return provider.deploy_placement(region)[1]
    if region and inspect.signature(provider.get_compute).parameters:
        return provider.get_compute(region)  # type: ignore[call-arg]
    return provider.get_compute()


def _failed(
    target: DeployTarget, deployment_id: str, error: BaseException, started: float
) -> DeploymentResult:
    return DeploymentResult(
        provider=target.provider,
        region=target.region,
        deployment_id=deployment_id,
        state="failed",
        duration_s=time.perf_counter() - started,
        error=str(error) or type(error).__name__,
    )


class MultiCloudDeployer:
    """Runs deploy/destroy/status over many targets in parallel, one thread per target."""

    def __init__(
        self,
        providers: ProviderRegistry | Mapping[str, CloudProvider] | None = None,
        *,
        store: DeploymentStore | None = None,
        max_workers: int | None = None,
    ) -> None:
        self.providers = providers if providers is not None else default_registry()
        self.store = store or DeploymentStore()
        self.max_workers = max_workers

    # -- providers
    def known(self) -> list[str]:
        if isinstance(self.providers, ProviderRegistry):
            return [i.name for i in self.providers.infos()]
        return list(self.providers)

    def sweepable(self) -> list[str]:
        """Providers worth asking about an unrecorded id: installed, credentials not missing."""
        if isinstance(self.providers, ProviderRegistry):
            names = [
                i.name
                for i in self.providers.infos()
                if (i.source != "builtin" or i.sdk_installed())
                and i.credentials_found() is not False
            ]
            return [n for n in names if self._loads(n)]
        return list(self.providers)

    def _loads(self, name: str) -> bool:
        try:
            self.provider(name)
        except (CloudError, ImportError):
            return False
        return True

    def provider(self, name: str) -> CloudProvider:
        if isinstance(self.providers, ProviderRegistry):
            return self.providers.require(name)
        try:
            return self.providers[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown provider '{name}'",
                operation="deploy",
                resource="to",
                hint=f"Known providers: {', '.join(sorted(self.providers))}",
            ) from None

    def parse_targets(
        self, text: str | Sequence[str], size: str | None = None
    ) -> list[DeployTarget]:
        return parse_targets(text, known=self.known(), size=size)

    def _parallel(
        self, fn: Callable[[DeployTarget], DeploymentResult], targets: Sequence[DeployTarget]
    ) -> list[DeploymentResult]:
        if not targets:
            return []
        workers = self.max_workers or len(targets)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
            return list(pool.map(fn, targets))

    # -- deploy
    def plan(
        self,
        artifact: Path | str,
        targets: Sequence[DeployTarget],
        *,
        deployment_id: str | None = None,
        strategy: str = "best-effort",
        run_command: str | None = None,
        port: int | None = None,
    ) -> tuple[str, PreparedArtifact, list[DeploymentResult]]:
        """Validate everything that can be checked without a cloud call; pack the artifact.

        Returns (deployment id, prepared artifact — caller cleans up, one 'planned' result per
        target). ConfigurationError on bad input; nothing is created.
        """
        dep_id = check_deployment_id(deployment_id or new_deployment_id())
        if strategy not in STRATEGIES:
            raise ConfigurationError(
                f"unknown strategy '{strategy}'",
                operation="deploy",
                resource="strategy",
                hint=f"Use one of: {', '.join(STRATEGIES)}",
            )
        if port is not None and not 1 <= port <= 65535:
            raise ConfigurationError(
                f"port {port} is out of range",
                operation="deploy",
                resource="port",
                hint="Use a TCP port between 1 and 65535",
            )
        if not targets:
            raise ConfigurationError(
                "no target given",
                operation="deploy",
                resource="to",
                hint="Pass at least one PROVIDER:REGION",
            )
        known = self.known()
        for t in targets:
            if t.provider not in known:
                raise _target_error(
                    str(t),
                    f"unknown provider '{t.provider}'",
                    f"Known providers: {', '.join(sorted(known))}",
                )
        prepared = prepare_artifact(artifact, run_command)
        planned = [
            DeploymentResult(
                provider=t.provider,
                region=t.region,
                deployment_id=dep_id,
                state="planned",
                hourly_price=hourly_price(t.provider, t.instance_type),
            )
            for t in targets
        ]
        return dep_id, prepared, planned

    def deploy_target(
        self,
        prepared: PreparedArtifact,
        target: DeployTarget,
        *,
        deployment_id: str,
        port: int | None = None,
        timeout: float = 300.0,
    ) -> DeploymentResult:
        """Deploy to one target; every failure becomes a 'failed' result, never an exception."""
        started = time.perf_counter()
        try:
            result = self.provider(target.provider).deploy(
                prepared.archive,
                target.region,
                instance_type=target.instance_type,
                deployment_id=deployment_id,
                run_command=prepared.run_command,
                port=port,
                timeout=timeout,
            )
        except Exception as exc:  # one cloud's failure must not sink the others
            return _failed(target, deployment_id, exc, started)
        if result.hourly_price is None:
            result = replace(
                result, hourly_price=hourly_price(target.provider, target.instance_type)
            )
        return result

    def deploy(
        self,
        artifact: Path | str,
        targets: Sequence[DeployTarget],
        deployment_id: str | None = None,
        strategy: str = "best-effort",
        run_command: str | None = None,
        port: int | None = None,
        timeout: float = 300.0,
        dry_run: bool = False,
    ) -> DeploymentReport:
        """Deploy to every target in parallel. all-or-nothing destroys everything on failure."""
        started = time.perf_counter()
        dep_id, prepared, planned = self.plan(
            artifact,
            targets,
            deployment_id=deployment_id,
            strategy=strategy,
            run_command=run_command,
            port=port,
        )
        with prepared:
            if dry_run:
                return DeploymentReport(
                    dep_id,
                    strategy,
                    tuple(planned),
                    dry_run=True,
                    targets=tuple(targets),
                    run_command=prepared.run_command,
                )
            self.remember(dep_id, targets, strategy=strategy, artifact=str(prepared.source))
            results = self._parallel(
                lambda t: self.deploy_target(
                    prepared, t, deployment_id=dep_id, port=port, timeout=timeout
                ),
                targets,
            )
        self.remember(dep_id, targets, results, strategy=strategy, artifact=str(prepared.source))
        if strategy == "all-or-nothing" and not all(r.ok for r in results):
            results = self.rollback(dep_id, targets, results)
        return DeploymentReport(
            dep_id,
            strategy,
            tuple(results),
            time.perf_counter() - started,
            targets=tuple(targets),
            run_command=prepared.run_command,
        )

    def rollback(
        self,
        deployment_id: str,
        targets: Sequence[DeployTarget],
        results: Sequence[DeploymentResult],
    ) -> list[DeploymentResult]:
        """Destroy every target (failed ones too: they may have left a half-made instance)."""
        cleaned = self.destroy(deployment_id, targets=targets)
        errors = {(r.provider, r.region): r.error for r in cleaned if r.error}
        out = []
        for r in results:
            err = errors.get((r.provider, r.region))
            if r.ok:
                out.append(replace(r, state="failed" if err else "rolled_back", error=err))
            else:
                out.append(r if not err else replace(r, error=f"{r.error}; rollback: {err}"))
        if not errors:
            self.store.delete(deployment_id)
        return out

    # -- records
    def remember(
        self,
        deployment_id: str,
        targets: Sequence[DeployTarget],
        results: Sequence[DeploymentResult] = (),
        *,
        strategy: str = "best-effort",
        artifact: str = "",
    ) -> None:
        """Record the targets before creating anything, so an interrupted run can be destroyed."""
        old = self.store.load(deployment_id)
        merged = list(old.targets) if old else []
        merged += [
            t
            for t in targets
            if all((t.provider, t.region) != (o.provider, o.region) for o in merged)
        ]
        regions = dict(old.regions) if old else {}
        for target, result in zip(targets, results, strict=False):
            regions[str(target)] = result.region
        self.store.save(
            DeploymentRecord(
                deployment_id=deployment_id,
                targets=tuple(merged),
                regions=regions,
                strategy=strategy,
                artifact=artifact,
                created=old.created if old else datetime.now(UTC).isoformat(timespec="seconds"),
            )
        )

    def targets_of(
        self,
        deployment_id: str,
        targets: Sequence[DeployTarget] | None,
        providers: Sequence[str] | None,
    ) -> list[DeployTarget]:
        """Recorded/given targets, plus each named provider's default region (a sweep by tag)."""
        record = self.store.load(deployment_id)
        chosen = list(targets) if targets is not None else list(record.targets if record else [])
        if targets is None:
            names = (
                list(providers) if providers is not None else ([] if record else self.sweepable())
            )
            for name in names:
                if all(t.provider != name for t in chosen):
                    chosen.append(DeployTarget(name, ""))
        if record:
            chosen = [replace(t, region=record.regions.get(str(t), t.region)) for t in chosen]
        return chosen

    # -- destroy / status
    def destroy_target(self, deployment_id: str, target: DeployTarget) -> DeploymentResult:
        """Remove what the deployment made on one target: via the provider's own
        destroy(deployment_id, region) when it has one, else by tag over its compute."""
        started = time.perf_counter()
        region = target.region or None
        try:
            provider = self.provider(target.provider)
            own = getattr(provider, "destroy", None)
            if callable(own):
                # AWS/GCP take (id, region); a provider with one region takes (id)
                takes_region = len(inspect.signature(own).parameters) > 1
                count = own(deployment_id, region) if takes_region else own(deployment_id)
            else:
                storage: CloudStorage | None
                try:
                    storage = provider.get_storage()
                except CloudError:
                    storage = None
                count = destroy_instances(
                    _compute_for(provider, region), storage, deployment_id, region
                )
        except Exception as exc:
            return _failed(target, deployment_id, exc, started)
        return DeploymentResult(
            provider=target.provider,
            region=target.region or "",
            deployment_id=deployment_id,
            state="destroyed",
            instance_id=f"{int(count or 0)} terminated",
            duration_s=time.perf_counter() - started,
        )

    def destroy(
        self,
        deployment_id: str,
        providers: Sequence[str] | None = None,
        *,
        targets: Sequence[DeployTarget] | None = None,
    ) -> list[DeploymentResult]:
        """Remove everything tagged with the id on every recorded target (or every provider
        named / registered, in its default region). The record goes once all succeeded."""
        check_deployment_id(deployment_id)
        chosen = self.targets_of(deployment_id, targets, providers)
        results = self._parallel(lambda t: self.destroy_target(deployment_id, t), chosen)
        if targets is None:
            self.forget_if_clean(deployment_id, results)
        return results

    def forget_if_clean(self, deployment_id: str, results: Sequence[DeploymentResult]) -> bool:
        """Drop the record once every target was destroyed (else a retry still knows where)."""
        if any(r.error for r in results):
            return False
        self.store.delete(deployment_id)
        return True

    def status_target(self, deployment_id: str, target: DeployTarget) -> DeploymentResult:
        started = time.perf_counter()
        region = target.region or None
        try:
            compute = _compute_for(self.provider(target.provider), region)
            found = find_instances(compute, deployment_id, region)
        except NotFoundError:
            found = []
        except Exception as exc:
            return _failed(target, deployment_id, exc, started)
        if not found:
            return DeploymentResult(target.provider, target.region, deployment_id, state="absent")
        best = next((i for i in found if i.state == "running"), found[0])
        return DeploymentResult(
            provider=target.provider,
            region=best.region or target.region,
            deployment_id=deployment_id,
            state=best.state,
            instance_id=best.instance_id,
            address=address_of(best),
            hourly_price=hourly_price(target.provider, best.instance_type or target.instance_type),
        )

    def status(
        self, deployment_id: str, providers: Sequence[str] | None = None
    ) -> list[DeploymentResult]:
        """Each target's state: running | pending | stopped | absent (nothing found) | failed."""
        check_deployment_id(deployment_id)
        chosen = self.targets_of(deployment_id, None, providers)
        return self._parallel(lambda t: self.status_target(deployment_id, t), chosen)
