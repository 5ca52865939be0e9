"""The Azure block under prefect_test_harness: save, load, build a working provider."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from blocks.azure import SpecifyAzure
from providers.azure.provider import AzureProvider

REPO = Path(__file__).resolve().parents[2]


def account_key() -> str:
    conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    return next(p for p in conn.split(";") if p.startswith("AccountKey=")).split("=", 1)[1]


@pytest.mark.emulators
def test_saved_block_builds_a_working_provider_and_hides_secrets(
    prefect_harness: None,
    container_name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    name = f"az-{uuid.uuid4().hex[:8]}"
    block = SpecifyAzure(
        connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"],
        client_secret="client-secret-value",
        subscription_id="sub-1",
        resource_group="rg-1",
        container=container_name,
    )
    block.save(name)
    loaded = SpecifyAzure.load(name)
    assert loaded.subscription_id == "sub-1"
    provider = loaded.provider()
    assert isinstance(provider, AzureProvider)
    storage = provider.blob_storage()
    storage.ensure_container()
    try:
        src = tmp_path / "f.txt"
        src.write_text("from a block")
        assert storage.upload(src, "k/f.txt") == f"az://{container_name}/k/f.txt"
        assert [o.key for o in storage.list_objects("k/")] == ["k/f.txt"]
    finally:
        storage.client.delete_container(container_name)

    key = account_key()
    for text in (repr(block), repr(loaded), repr(provider), repr(provider.settings), caplog.text):
        assert key not in text and "client-secret-value" not in text

    from prefect.settings import PREFECT_API_URL

    api_url = str(PREFECT_API_URL.value())
    env = {**os.environ, "PREFECT_API_URL": api_url, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "inspect", f"specify-azure/{name}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "sub-1" in out.stdout and "********" in out.stdout
    assert key not in out.stdout + out.stderr
    assert "client-secret-value" not in out.stdout + out.stderr


def test_empty_fields_fall_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub-from-env")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_URL", "https://acct.blob.core.windows.net")
    provider = SpecifyAzure(resource_group="rg").provider()
    assert provider.settings.subscription_id == "sub-from-env"
    assert provider.settings.account_url == "https://acct.blob.core.windows.net"
    assert type(provider.credential).__name__ == "DefaultAzureCredential"

    sp = SpecifyAzure(tenant_id="t", client_id="c", client_secret="s", resource_group="rg")
    assert type(sp.provider().credential).__name__ == "ClientSecretCredential"
