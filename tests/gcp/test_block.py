"""The GCP block under prefect_test_harness: save, load, build a working provider, and
keep the service-account key out of repr, logs and `prefect block inspect`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blocks.gcp import SpecifyGCP
from providers.gcp import GCPProvider
from tests.emulators import Emulators

pytestmark = pytest.mark.emulators


def test_save_load_builds_a_working_provider(
    prefect_harness: None,
    emulators: Emulators,
    sa_info: dict[str, Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    emulators.reset_gcs()
    secret = sa_info["private_key"]
    SpecifyGCP(
        service_account_info=sa_info,
        project="specify-test",
        bucket="block-bucket",
        zone="europe-west4-a",
        billing_dataset="billing",
        billing_table="gcp_billing_export_v1_X",
    ).save("gcp-test", overwrite=True)

    block = SpecifyGCP.load("gcp-test")
    assert block.get_block_type_slug() == "specify-gcp"
    provider = block.provider()
    assert isinstance(provider, GCPProvider)
    assert (provider.project, provider.bucket, provider.zone) == (
        "specify-test",
        "block-bucket",
        "europe-west4-a",
    )
    assert provider.billing_table == "gcp_billing_export_v1_X"

    storage = provider.get_storage()
    storage.create_bucket()
    src = tmp_path / "hello.txt"
    src.write_text("hello from a block")
    storage.upload(src, "hello.txt")
    assert [o.key for o in storage.list_objects()] == ["hello.txt"]
    # the loaded key signs URLs: the secret survived the round trip intact
    assert "X-Goog-Signature=" in storage.get_url("hello.txt", 60)

    for text in (repr(block), str(block), repr(provider), caplog.text):
        assert secret not in text and sa_info["private_key_id"] not in text

    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    from prefect.settings import PREFECT_API_URL

    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    out = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "inspect", "specify-gcp/gcp-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "block-bucket" in out and "********" in out
    assert "BEGIN PRIVATE KEY" not in out and sa_info["private_key_id"] not in out


def test_empty_fields_fall_back_to_the_environment(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    SpecifyGCP().save("gcp-empty", overwrite=True)
    provider = SpecifyGCP.load("gcp-empty").provider()
    assert provider.project == "from-env"
    assert provider.credentials_source() == "application default"
    assert GCPProvider.credentials_found() is False  # the named key file is missing


def test_impersonation_is_passed_through(sa_info: dict[str, Any]) -> None:
    block = SpecifyGCP(service_account_info=sa_info, impersonate_service_account="deployer@p.iam")
    provider = block.provider()
    assert provider.credentials_source() == ("service account info impersonating deployer@p.iam")
    from google.auth import impersonated_credentials

    assert isinstance(provider.credentials, impersonated_credentials.Credentials)


def test_the_storage_endpoint_field_reaches_the_emulator_without_the_environment(
    emulators: Emulators, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emulators.reset_gcs()
    url = emulators.url("gcs")
    for var in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    block = SpecifyGCP(
        project="specify-test",
        bucket="endpoint-bucket",
        storage_endpoint=url,
        storage_emulator=True,
    )
    provider = block.provider()
    assert provider.settings.storage_url == url and provider.storage_emulator
    storage = provider.get_storage()
    storage.create_bucket()  # type: ignore[attr-defined]
    src = tmp_path / "f.txt"
    src.write_text("through the endpoint field")
    storage.upload(src, "k/f.txt")
    # read back with Google's client pointed at the emulator by hand
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    client = gcs.Client(
        project="specify-test",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
    )
    blob = client.bucket("endpoint-bucket").blob("k/f.txt")
    assert blob.download_as_bytes() == b"through the endpoint field"
