"""Local deploy: the artifact runs as a process on this machine, health-checked on its port.

The same find-or-create body as every cloud (`providers.deployment.instances.deploy_instance`):
the archive is staged in the provider's default bucket, and the process fetches it through a
file:// URL (no signing needed on one machine) and runs it in the foreground, so the
process is the instance that ProcessCompute tracks and terminates.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from providers.base import DeploymentResult

if TYPE_CHECKING:
    from providers.local.compute import ProcessCompute
    from providers.local.storage import LocalStorage


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deploy_local(
    compute: ProcessCompute,
    storage: LocalStorage,
    artifact: Path | str,
    region: str = "local",
    *,
    deployment_id: str | None = None,
    run_command: str | None = None,
    port: int | None = None,
    timeout: float = 300.0,
) -> DeploymentResult:
    """Run the artifact as a local process; without --port one is chosen, so there is always
    an address to health-check and to print.

    Takes the provider's compute and storage (not the provider), so that this module and
    providers/local/provider.py do not import each other."""
    from providers.deployment.instances import deploy_instance, new_deployment_id

    return deploy_instance(
        compute,
        storage,
        artifact,
        provider="local",
        region=region or "local",
        deployment_id=deployment_id or new_deployment_id(),
        instance_type="process",
        run_command=run_command,
        port=port if port is not None else free_port(),
        timeout=timeout,
        url_for=lambda key: (storage.root / key).as_uri(),
        workdir=".",
        detach=False,
    )
