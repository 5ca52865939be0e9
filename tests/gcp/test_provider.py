"""GCPProvider: the Google environment, gs:// from the command line, cheap import, the
SDK guard, the IAM roles document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from providers.errors import ConfigurationError, CredentialsError
from providers.gcp import GCPProvider
from providers.gcp.iam import ROLES, render_yaml
from providers.locations import open_location
from providers.registry import ProviderRegistry
from tests.emulators import Emulators

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    ).stdout


def test_iam_document_is_generated_from_the_role_list() -> None:
    text = (ROOT / "docs" / "iam" / "gcp-roles.yaml").read_text()
    assert text == render_yaml(), "run: python -m providers.gcp.iam > docs/iam/gcp-roles.yaml"
    doc = yaml.safe_load(text)
    assert [r["role"] for r in doc["roles"]] == [r.role for r in ROLES]
    services = {r["service"] for r in doc["roles"]}
    assert services == {"storage", "metrics", "logging", "secrets", "compute", "database", "cost"}


def test_importing_the_provider_imports_no_google_sdk() -> None:
    out = run_python(
        "import sys, providers.gcp; print(sorted(m for m in sys.modules if m.startswith('google')))"
    )
    assert out.strip() == "[]"


def test_missing_sdk_names_the_extra() -> None:
    # a stand-in for an environment without google-cloud-storage: the import fails
    out = run_python(
        "import sys; sys.modules['google.cloud.storage'] = None\n"
        "from providers.gcp import GCPProvider\n"
        "from providers.errors import ProviderNotAvailableError\n"
        "try:\n"
        "    GCPProvider('p', credentials=object()).get_storage('b')\n"
        "except ProviderNotAvailableError as e:\n"
        "    print(e)\n"
    )
    assert "google-cloud-storage" in out and "specify-cloud[gcp]" in out


@pytest.mark.emulators
def test_gs_location_works_from_the_google_environment(
    emulators: Emulators, tmp_path: Path
) -> None:
    """Like Google's own clients: STORAGE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT only."""
    emulators.reset_gcs()
    GCPProvider().get_storage("env-bucket").create_bucket()
    registry = ProviderRegistry(discover=False)
    provider = registry.require("gcp")
    assert isinstance(provider, GCPProvider)
    assert provider.project == os.environ["GOOGLE_CLOUD_PROJECT"]
    storage, prefix = open_location("gs://env-bucket/some/prefix")
    src = tmp_path / "f.txt"
    src.write_text("x")
    storage.upload(src, f"{prefix}/f.txt")
    assert [o.key for o in storage.list_objects(prefix)] == ["some/prefix/f.txt"]
    assert GCPProvider.credentials_found() is True


def test_project_resolution_order(
    sa_info: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GCLOUD_PROJECT", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    assert GCPProvider("explicit").project == "explicit"
    assert GCPProvider(service_account_info=sa_info).project == "env-project"
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    assert GCPProvider(service_account_info=sa_info).project == "specify-test"
    key = tmp_path / "key.json"
    key.write_text(json.dumps({**sa_info, "project_id": "from-file"}))
    assert GCPProvider(service_account_file=key).project == "from-file"


def test_credentials_from_the_environment(
    sa_info: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GCLOUD_PROJECT", raising=False)
    key = tmp_path / "key.json"
    key.write_text(json.dumps(sa_info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    assert GCPProvider.credentials_found() is True
    provider = GCPProvider()
    assert provider.credentials.service_account_email == sa_info["client_email"]
    assert provider.project == "specify-test"

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    assert GCPProvider.credentials_found() is False
    with pytest.raises(CredentialsError, match="Application Default Credentials"):
        _ = GCPProvider("p").credentials


def test_bad_key_is_a_credentials_error_without_the_key(sa_info: dict[str, Any]) -> None:
    broken = {**sa_info, "private_key": sa_info["private_key"][:200]}
    with pytest.raises(CredentialsError) as info:
        _ = GCPProvider("p", service_account_info=broken).credentials
    assert "PRIVATE KEY" not in str(info.value) and broken["private_key"][40:80] not in str(
        info.value
    )


def test_repr_and_configuration_errors(sa_info: dict[str, Any]) -> None:
    provider = GCPProvider("p", service_account_info=sa_info, bucket="b")
    assert "PRIVATE" not in repr(provider) and "service account info" in repr(provider)
    with pytest.raises(ConfigurationError, match="unknown service"):
        GCPProvider("p", endpoints={"storag": "http://x"})
    with pytest.raises(ConfigurationError, match="no bucket"):
        GCPProvider("p", credentials=object()).get_storage()
