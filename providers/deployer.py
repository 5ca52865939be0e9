"""Deploy one artifact to several clouds in parallel; destroy and inspect a deployment by id.

    deployer = MultiCloudDeployer()                       # the default provider registry
    targets = parse_targets("aws:us-east-1,gcp:us-central1,local", size="small")
    report = deployer.deploy("./app", targets, port=8080)
    deployer.status(report.deployment_id); deployer.destroy(report.deployment_id)

This module is the orchestrator. Its pieces live in providers.deployment (per-cloud rules
in `targets`, instance primitives in `instances`, the record store in `state`) and are
re-exported here, so `from providers.deployer import ...` keeps working for all of them.

Every resource is tagged with the deployment id (`artifact.DEPLOYMENT_TAG`). A small record
per deployment (which targets, which regions) is kept in a RecordStore (by default the
state directory) so that `status` and `destroy` know where to look; `destroy` also sweeps
each provider's default region by tag, so a lost record still leaves nothing behind there.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from providers.artifact import PreparedArtifact, check_deployment_id, prepare_artifact
from providers.base import (
    CloudCompute,
    CloudProvider,
    CloudStorage,
    DeploymentResult,
    SupportsDestroy,
)
from providers.deployment.instances import (
    GONE_STATES,
    LIVE_STATES,
    PORT_TAG,
    address_of,
    deploy_instance,
    destroy_instances,
    find_instances,
    new_deployment_id,
)
from providers.deployment.state import (
    DeploymentRecord,
    DeploymentStore,
    RecordStore,
    default_state_dir,
)
from providers.deployment.targets import (
    DEFAULT_REGIONS,
    SIZE_NAMES,
    DeployTarget,
    _target_error,
    hourly_price,
    parse_target,
    parse_targets,
    resolve_size,
    size_table,
)
from providers.errors import CloudError, ConfigurationError, NotFoundError
from providers.registry import ProviderRegistry, default_registry
from providers.vm import VMProvider

__all__ = [
    "DEFAULT_REGIONS",
    "GONE_STATES",
    "LIVE_STATES",
    "PORT_TAG",
    "SIZE_NAMES",
    "STRATEGIES",
    "DeployTarget",
    "DeploymentRecord",
    "DeploymentReport",
    "DeploymentStore",
    "MultiCloudDeployer",
    "RecordStore",
    "Strategy",
    "address_of",
    "default_state_dir",
    "deploy_instance",
    "destroy_instances",
    "find_instances",
    "hourly_price",
    "new_deployment_id",
    "parse_target",
    "parse_targets",
    "resolve_size",
    "size_table",
]


Strategy = Literal["best-effort", "all-or-nothing"]
STRATEGIES: tuple[str, ...] = ("best-effort", "all-or-nothing")


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
        store: RecordStore | None = None,
        max_workers: int | None = None,
    ) -> None:
        self.providers = providers if providers is not None else default_registry()
        self.store: RecordStore = store if store is not None else DeploymentStore()
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
            if isinstance(provider, SupportsDestroy):
                own = provider.destroy
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
