"""Azure clients honour the HTTP proxy and CA bundle variables, read once."""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from pathlib import Path

import pytest

from providers.azure.storage import AzureBlobStorage
from providers.httpenv import RequestsEnv, requests_env
from tests.fakes.azure_blob_versions import FakeVersionedBlobs
from tests.fakes.azure_https import FakeAzureServer
from tests.fakes.recording_proxy import RecordingProxy


def test_proxy_variables_in_any_case_and_the_ca_bundle_in_requests_order() -> None:
    assert requests_env({"PATH": "/bin", "HTTPS_PROXY": ""}) == RequestsEnv(False, None)
    assert requests_env({"https_proxy": "http://proxy:3128"}).proxies
    assert requests_env({"NO_PROXY": "localhost"}).proxies
    both = {"CURL_CA_BUNDLE": "/curl.pem", "REQUESTS_CA_BUNDLE": "/corp.pem"}
    assert requests_env(both) == RequestsEnv(False, "/corp.pem")
    assert requests_env({"CURL_CA_BUNDLE": "/curl.pem"}).ca_bundle == "/curl.pem"


def test_blob_upload_goes_through_the_proxy_named_in_the_environment(
    emulators: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    azurite = re.search(r"BlobEndpoint=(http://[^/;]+)", real)
    assert azurite
    # the blob endpoint itself is dead: only the proxy can reach Azurite
    dead = real.replace(azurite.group(1), "http://127.0.0.1:9")
    container = f"t-{uuid.uuid4().hex[:12]}"
    with RecordingProxy(azurite.group(1)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        storage = AzureBlobStorage(container, connection_string=dead)
        storage.ensure_container()
        data = b"through the proxy"
        written = storage.upload_stream(
            io.BytesIO(data), "k.txt", size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        assert written.verified
        assert ("PUT", f"/devstoreaccount1/{container}/k.txt", None) in proxy.seen
        storage.client.delete_container(container)


def test_ca_bundle_from_the_environment_is_trusted_for_https(
    fake_server: FakeAzureServer,
    tls_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake = FakeVersionedBlobs(fake_server)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files[0]))
    storage = AzureBlobStorage("docs", connection_string=fake.connection_string)
    (tmp_path / "f").write_bytes(b"trusted")
    storage.upload(tmp_path / "f", "r.txt")
    assert len(fake_server.of("PUT", "/docs/r.txt")) == 1
