"""AzureProvider: settings from the standard Azure environment, lazy SDK imports, az:// URLs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from providers.azure.provider import AzureProvider, AzureSettings, startup_script
from providers.errors import ConfigurationError
from providers.locations import open_location
from providers.registry import ProviderRegistry

AZURE_VARS = [
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_URL",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_SUBSCRIPTION_ID",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for var in AZURE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure-cli"))
    return monkeypatch


def test_importing_the_provider_imports_no_sdk() -> None:
    code = (
        "import sys, providers.azure\n"
        "from providers.azure import AzureProvider\n"
        "bad = [m for m in sys.modules if m.startswith('azure')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_credentials_found_without_network(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert AzureProvider.credentials_found() is False
    clean_env.setenv("AZURE_CLIENT_ID", "app")
    clean_env.setenv("AZURE_TENANT_ID", "tenant")
    assert AzureProvider.credentials_found() is False  # an id without a secret proves nothing
    clean_env.setenv("AZURE_CLIENT_SECRET", "s3cret")
    assert AzureProvider.credentials_found() is True
    clean_env.delenv("AZURE_CLIENT_SECRET")
    (tmp_path / "azure-cli").mkdir()
    (tmp_path / "azure-cli" / "msal_token_cache.json").write_text("{}")
    assert AzureProvider.credentials_found() is True


def test_settings_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=SECRETKEY")
    clean_env.setenv("AZURE_SUBSCRIPTION_ID", "sub-1")
    clean_env.setenv("AZURE_CLIENT_SECRET", "hidden-value")
    provider = AzureProvider(resource_group="rg")
    s = provider.settings
    assert (s.subscription_id, s.resource_group) == ("sub-1", "rg")
    assert AzureProvider.credentials_found() is True
    text = repr(provider) + repr(s)
    assert "SECRETKEY" not in text and "hidden-value" not in text
    assert AzureSettings.from_env(subscription_id="sub-2").subscription_id == "sub-2"
    with pytest.raises(ConfigurationError):
        AzureSettings.from_env(no_such_setting=1)


def test_missing_settings_name_the_variables(clean_env: pytest.MonkeyPatch) -> None:
    provider = AzureProvider()
    with pytest.raises(ConfigurationError) as info:
        provider.get_compute()
    assert "AZURE_SUBSCRIPTION_ID" in str(info.value)
    with pytest.raises(ConfigurationError):
        provider.get_storage()  # no container


@pytest.mark.emulators
def test_az_url_works_from_the_environment(tmp_path: Path, container_name: str) -> None:
    # the registry builds AzureProvider() with no arguments: it must find Azurite on its own
    registry = ProviderRegistry(discover=False)
    provider = registry.require("azure")
    assert isinstance(provider, AzureProvider)
    storage = provider.blob_storage(container_name)
    storage.ensure_container()
    try:
        src = tmp_path / "hello.txt"
        src.write_text("hi")
        storage.upload(src, "pre/hello.txt")
        opened, prefix = open_location(f"az://{container_name}/pre")
        assert prefix == "pre"
        assert [o.key for o in opened.list_objects(prefix)] == ["pre/hello.txt"]
    finally:
        storage.client.delete_container(container_name)


def test_startup_script_quotes_the_sas_url() -> None:
    script = startup_script("https://a/b?sv=1&sig=x%2B", "app.sh", "echo 'hi'")
    assert "curl -fsSL --retry 5 -o 'app.sh' 'https://a/b?sv=1&sig=x%2B'" in script
    result = subprocess.run(["sh", "-n", "-c", script], capture_output=True)
    assert result.returncode == 0, result.stderr
