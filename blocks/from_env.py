"""Blocks built from an environment: the cloud CLIs' variables become saved settings.

`specify cloud blocks init` uses this with os.environ, or with the environment the
emulator harness recorded (`python -m tests.emulators up` writes it to a state file), so
a local trial gets blocks that point at moto, the GCS emulator and Azurite.
Only variable names are reported, never their values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from blocks import BLOCK_TYPES, ProviderBlock, SpecifyLocal
from providers.errors import ConfigurationError
from providers.gcp.settings import emulator_url

# cloud -> (block type slug, variables that mean "this cloud is configured")
CLOUDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws": ("specify-aws", ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_ENDPOINT_URL")),
    "gcp": (
        "specify-gcp",
        ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "STORAGE_EMULATOR_HOST"),
    ),
    "azure": (
        "specify-azure",
        ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL"),
    ),
}

# block field -> environment variable, per cloud, with the field names of prefect-aws,
# prefect-gcp and prefect-azure. Fields a block class does not have are left out.
FIELDS: dict[str, dict[str, str]] = {
    "aws": {
        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
        "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "aws_session_token": "AWS_SESSION_TOKEN",
        "profile_name": "AWS_PROFILE",
        "region_name": "AWS_DEFAULT_REGION",
        "endpoint_url": "AWS_ENDPOINT_URL",
    },
    "gcp": {
        "project": "GOOGLE_CLOUD_PROJECT",
        "service_account_file": "GOOGLE_APPLICATION_CREDENTIALS",
        "storage_endpoint": "STORAGE_EMULATOR_HOST",
    },
    "azure": {
        "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
        "account_url": "AZURE_STORAGE_ACCOUNT_URL",
        "tenant_id": "AZURE_TENANT_ID",
        "client_id": "AZURE_CLIENT_ID",
        "client_secret": "AZURE_CLIENT_SECRET",
        "subscription_id": "AZURE_SUBSCRIPTION_ID",
        "resource_group": "AZURE_RESOURCE_GROUP",
    },
}
# AWS_REGION wins over AWS_DEFAULT_REGION, as in the AWS CLI.
_FALLBACKS = {"AWS_DEFAULT_REGION": "AWS_REGION"}
_BUCKET_FIELDS = ("bucket", "bucket_name", "container", "container_name")


@dataclass
class Planned:
    """A block to save (block set) or a cloud left out (reason set)."""

    cloud: str
    name: str
    slug: str
    block: ProviderBlock | None = None
    variables: list[str] = field(default_factory=list)  # names only, never values
    reason: str = ""


def emulator_env(state_dir: Path | str) -> dict[str, str]:
    """The environment the emulator harness recorded in STATE_DIR/state.json."""
    path = Path(state_dir).expanduser() / "state.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"no emulator state file at {path}",
            operation="read emulator state",
            resource=str(path),
            hint="Start the emulators with `python -m tests.emulators up` (add --state-dir "
            "DIR to choose where), then pass that directory to --emulators",
        ) from None
    env = state.get("env") or {}
    return {str(k): str(v) for k, v in env.items()}


def block_type(slug: str) -> type[ProviderBlock] | None:
    for cls in BLOCK_TYPES:
        if cls.get_block_type_slug() == slug:
            return cls
    return None


def plan_blocks(
    env: Mapping[str, str],
    bucket: str = "specify-cloud",
    name_prefix: str = "specify",
    local_root: str = "",
) -> list[Planned]:
    """What `blocks init` would save for env: one block per configured cloud, plus local."""
    planned: list[Planned] = []
    for cloud, (slug, markers) in CLOUDS.items():
        name = f"{name_prefix}-{cloud}"
        found = [v for v in markers if env.get(v)]
        cls = block_type(slug)
        if not found:
            reason = f"none of {', '.join(markers)} is set"
            planned.append(Planned(cloud, name, slug, reason=reason))
            continue
        if cls is None:
            reason = f"block type {slug} is not installed in this version"
            planned.append(Planned(cloud, name, slug, reason=reason))
            continue
        values: dict[str, object] = {}
        used: list[str] = []
        for field_name, var in FIELDS[cloud].items():
            value = env.get(var) or env.get(_FALLBACKS.get(var, ""), "")
            if value and field_name in cls.model_fields and field_name not in values:
                values[field_name] = value
                used.append(var if env.get(var) else _FALLBACKS[var])
        if cloud == "gcp" and env.get("STORAGE_EMULATOR_HOST"):
            # Google's variable means an emulator: its URL, and no credentials
            values["storage_endpoint"] = emulator_url(env["STORAGE_EMULATOR_HOST"])
            values["storage_emulator"] = True
        for field_name in _BUCKET_FIELDS:
            if field_name in cls.model_fields:
                values[field_name] = bucket
                break
        planned.append(Planned(cloud, name, slug, cls(**values), sorted(set(used))))
    local_vars = ["SPECIFY_LOCAL_ROOT"] if not local_root and env.get("SPECIFY_LOCAL_ROOT") else []
    root = local_root or env.get("SPECIFY_LOCAL_ROOT", "")
    local = SpecifyLocal(root=root, bucket=bucket)
    planned.append(
        Planned("local", f"{name_prefix}-local", "specify-local", local, variables=local_vars)
    )
    return planned


def save_blocks(planned: list[Planned], overwrite: bool = True) -> list[Planned]:
    """Save every planned block; return those saved."""
    saved = []
    for p in planned:
        if p.block is not None:
            p.block.save(p.name, overwrite=overwrite)
            saved.append(p)
    return saved
