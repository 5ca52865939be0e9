"""Key Vault secrets through a fake vault over https with challenge auth."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from providers.azure.provider import AzureProvider
from providers.azure.secrets import AzureKeyVaultSecrets
from providers.base import CloudSecrets
from providers.errors import CredentialsError, NotFoundError
from tests.fakes.azure_https import FakeAzureServer, FakeCredential
from tests.fakes.azure_keyvault import FakeKeyVault

VALUE_1 = "s3cret-value-one"
VALUE_2 = "s3cret-value-two"


@pytest.fixture
def vault(fake_server: FakeAzureServer) -> FakeKeyVault:
    return FakeKeyVault(fake_server)


@pytest.fixture
def secrets(
    fake_provider: AzureProvider, fake_server: FakeAzureServer, vault: FakeKeyVault
) -> AzureKeyVaultSecrets:
    provider = AzureProvider(
        replace(
            fake_provider.settings,
            key_vault_url=fake_server.url,
            key_vault_verify_challenge=False,
        ),
        credential=fake_provider.credential,
    )
    built = provider.get_secrets()
    assert isinstance(built, AzureKeyVaultSecrets)
    return built


def test_set_get_versions_list_delete(
    secrets: AzureKeyVaultSecrets,
    vault: FakeKeyVault,
    fake_server: FakeAzureServer,
    credential: FakeCredential,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert isinstance(secrets, CloudSecrets)
    meta = secrets.set_secret("db-password", VALUE_1)
    assert meta.name == "db-password" and meta.created is not None
    # challenge auth: the first request went without a token, got 401, then came back with one
    first, second = fake_server.requests[0], fake_server.requests[1]
    assert "authorization" not in first.headers and first.method == "PUT"
    assert second.headers["authorization"].startswith("Bearer ")
    assert second.json() == {"value": VALUE_1}
    assert ("https://vault.azure.net/.default",) in credential.scopes

    secrets.set_secret("db-password", VALUE_2)
    latest = secrets.get_secret("db-password")
    assert latest.value == VALUE_2
    versions = secrets.list_versions("db-password")
    assert len(versions) == 2 and versions[-1] == latest.version
    old = secrets.get_secret("db-password", versions[0])
    assert old.value == VALUE_1 and old.version == versions[0]
    assert VALUE_1 not in repr(old)

    secrets.set_secret("api-key", "k")
    listed = secrets.list_secrets()
    assert [m.name for m in listed] == ["api-key", "db-password"]

    assert secrets.delete_secret("db-password", purge=True) is True
    assert "db-password" not in vault.deleted  # purged after the soft delete finished
    assert fake_server.of("GET", "/deletedsecrets/db-password")  # the poller waited
    assert secrets.delete_secret("db-password") is False
    with pytest.raises(NotFoundError) as info:
        secrets.get_secret("db-password")
    assert fake_server.url in str(info.value)
    for text in [caplog.text, str(info.value)]:
        assert VALUE_1 not in text and VALUE_2 not in text


def test_refused_token_is_a_credentials_error(
    fake_server: FakeAzureServer, vault: FakeKeyVault, tls_files: tuple
) -> None:
    class Wrong(FakeCredential):
        def get_token(self, *scopes, **kwargs):  # type: ignore[no-untyped-def]
            token = super().get_token(*scopes, **kwargs)
            return type(token)("not-the-token", token.expires_on)

    secrets = AzureKeyVaultSecrets(
        fake_server.url,
        Wrong(),
        connection_verify=str(tls_files[0]),
        verify_challenge_resource=False,
        sdk_retries=0,
    )
    with pytest.raises(CredentialsError) as info:
        secrets.set_secret("x", VALUE_1)
    assert VALUE_1 not in str(info.value)
    assert "Key Vault" in str(info.value) or "AZURE_" in str(info.value)
