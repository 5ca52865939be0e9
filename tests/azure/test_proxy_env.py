"""Azure clients honour HTTP proxy variables, and skip the per-request environment scan
when none is set."""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid

import pytest

from providers.azure.storage import AzureBlobStorage
from providers.httpenv import requests_env_in_use
from tests.fakes.recording_proxy import RecordingProxy


def test_only_proxy_and_ca_bundle_variables_count() -> None:
    assert not requests_env_in_use({"PATH": "/bin", "AWS_ENDPOINT_URL": "http://x"})
    assert not requests_env_in_use({"HTTPS_PROXY": ""})
    assert requests_env_in_use({"https_proxy": "http://proxy:3128"})
    assert requests_env_in_use({"NO_PROXY": "localhost"})
    assert requests_env_in_use({"REQUESTS_CA_BUNDLE": "/etc/ssl/corp.pem"})


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
