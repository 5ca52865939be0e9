"""GCS clients honour the HTTP proxy variables, read once (see providers.httpenv)."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from typing import Any

import pytest

from providers.gcp import GCPProvider
from tests.emulators import Emulators
from tests.fakes.recording_proxy import RecordingProxy


def test_gcs_upload_goes_through_the_proxy_named_in_the_environment(
    emulators: Emulators, sa_info: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.environ["STORAGE_EMULATOR_HOST"]
    with RecordingProxy(real) as proxy:
        # the emulator address itself is dead: only the proxy can reach the emulator
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        bucket = f"specify-{uuid.uuid4().hex[:10]}"
        gcs = GCPProvider(service_account_info=sa_info, bucket=bucket).get_storage()
        gcs.create_bucket()  # type: ignore[attr-defined]
        data = b"through the proxy"
        gcs.upload_stream(
            io.BytesIO(data), "k.txt", size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        assert gcs.head("k.txt").size == len(data)
        assert any(m == "POST" and "/upload/storage/v1/b/" in p for m, p, _ in proxy.seen)
