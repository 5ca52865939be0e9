"""The lean GCS single-shot writer (providers/native/gcs_put) against gcp-storage-emulator.

Which client sent a write is told by its User-Agent as a proxy in front of the emulator
saw it (specify-native-gcs/... for the lean writer), and by the evidence of the write
(`gcs:native-md5Hash`; the SDK path says `gcs:md5Hash`)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from typing import Any

import google_crc32c
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from providers.errors import CloudError
from providers.gcp.storage import GCSStorage
from providers.native import DataPlaneSettings, byte_path, path_name
from providers.native.gcs_put import USER_AGENT, GCSInsert
from providers.retry import RetryPolicy
from tests.fakes.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.emulators


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gcs_store(endpoint: str, bucket: str, plane: str = "native", **kw: Any) -> GCSStorage:
    client = storage.Client(
        project="test-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )
    store = GCSStorage(
        bucket, client=client, project="test-project", data_plane=DataPlaneSettings(plane), **kw
    )
    store.retry_policy = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)
    return store


@pytest.fixture
def bucket(emulators: Any) -> Iterator[str]:
    emulators.reset_gcs()  # the emulator slows down as objects pile up
    name = f"lean-{uuid.uuid4().hex[:12]}"
    gcs_store(os.environ["SPECIFY_GCS_URL"], name, "sdk").create_bucket()
    yield name


@pytest.fixture
def passthrough(emulators: Any) -> Iterator[FaultyProxy]:
    with FaultyProxy(os.environ["SPECIFY_GCS_URL"], p503=0, pdrop=0) as proxy:
        yield proxy


def lean_posts(proxy: FaultyProxy) -> list[str]:
    return [path for m, path, a in proxy.agents if m == "POST" and a == USER_AGENT]


def test_native_writes_are_one_multipart_upload_each(passthrough: FaultyProxy, bucket: str) -> None:
    store = gcs_store(passthrough.url, bucket)
    assert path_name(store) == "native"
    keys = ["a.bin", "d/sp ace/é😀.bin", "pct%25?x&y#z"]
    for i, key in enumerate(keys):
        data = os.urandom(40_000 + i)
        written = store.upload_stream(
            io.BytesIO(data), key, size=len(data), sha256=sha(data), metadata={"owner": "t"}
        )
        assert written.verified and written.evidence == "gcs:native-md5Hash", key
        assert written.hashes["md5"] == hashlib.md5(data).hexdigest()
        crc = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
        assert written.hashes["crc32c"] == crc
        head = gcs_store(os.environ["SPECIFY_GCS_URL"], bucket, "sdk").head(key)
        assert head.sha256 == sha(data) and head.metadata == {"owner": "t"}
        assert head.size == len(data) and head.hashes["md5"] == written.hashes["md5"]
        with store.open_read(key) as fh:
            assert fh.read() == data
    assert len(lean_posts(passthrough)) == len(keys)


def test_sdk_mode_never_uses_the_lean_writer(passthrough: FaultyProxy, bucket: str) -> None:
    store = gcs_store(passthrough.url, bucket, "sdk")
    data = os.urandom(30_000)
    written = store.upload_stream(io.BytesIO(data), "s.bin", size=len(data), sha256=sha(data))
    assert written.verified and written.evidence == "gcs:md5Hash"
    assert lean_posts(passthrough) == []


def test_a_flipped_byte_is_refused_by_the_service_and_resent(bucket: str) -> None:
    """One byte of the upload's body flipped on the way: the service computes md5/crc32c
    of what it received, refuses to create the object, and the store resends the body
    from memory; with no attempt left the old object stays as it was."""
    old, new = os.urandom(50_000), os.urandom(50_000)
    gcs_store(os.environ["SPECIFY_GCS_URL"], bucket, "sdk").upload_stream(
        io.BytesIO(old), "f.bin", size=50_000, sha256=sha(old)
    )
    with FaultyProxy(os.environ["SPECIFY_GCS_URL"], p503=0, pdrop=0,
                     schedule=["flip_request"]) as proxy:  # fmt: skip
        store = gcs_store(proxy.url, bucket)
        written = store.upload_stream(io.BytesIO(new), "f.bin", size=50_000, sha256=sha(new))
        statuses = [status for m, _, status, _ in proxy.log if m == "POST"]
    assert proxy.counts["flip_request"] == 1
    assert len(statuses) == 2 and statuses[0] >= 400 and statuses[1] == 200, statuses
    assert written.evidence == "gcs:native-md5Hash"
    direct = gcs_store(os.environ["SPECIFY_GCS_URL"], bucket, "sdk")
    with direct.open_read("f.bin") as fh:
        assert fh.read() == new
    newer = os.urandom(50_000)
    with FaultyProxy(os.environ["SPECIFY_GCS_URL"], p503=0, pdrop=0,
                     schedule=["flip_request"]) as proxy:  # fmt: skip
        store = gcs_store(proxy.url, bucket)
        store.retry_policy = RetryPolicy(attempts=1)
        with pytest.raises(CloudError):
            store.upload_stream(io.BytesIO(newer), "f.bin", size=50_000, sha256=sha(newer))
    with direct.open_read("f.bin") as fh:
        assert fh.read() == new, "a refused body replaced the object"


def test_kms_keyed_and_large_writes_keep_the_sdk(passthrough: FaultyProxy, bucket: str) -> None:
    keyed = gcs_store(passthrough.url, bucket, kms_key_name="projects/p/keys/k")
    assert keyed._native_writer("k") is None
    small = gcs_store(passthrough.url, bucket, resumable_threshold=256 * 1024)
    data = os.urandom(300 * 1024)
    written = small.upload_stream(io.BytesIO(data), "big.bin", size=len(data), sha256=sha(data))
    assert written.verified and written.evidence == "gcs:md5Hash"
    assert lean_posts(passthrough) == []


def test_a_bearer_token_comes_from_the_clients_credentials() -> None:
    """google-auth credentials add the Authorization header (refreshing when due)."""
    from google.oauth2.credentials import Credentials

    client = storage.Client(
        project="p", credentials=Credentials(token="tok-123"),
        client_options={"api_endpoint": "http://127.0.0.1:9"},
    )  # fmt: skip
    native = byte_path(GCSStorage("b1", client=client, project="p"), DataPlaneSettings("native"))
    assert native is not None and isinstance(native.writer, GCSInsert)
    headers: dict[str, str] = {}
    native.writer._authorize("POST", "http://127.0.0.1:9/upload", headers)
    assert headers["authorization"] == "Bearer tok-123"
    assert "tok-123" not in repr(native.writer)
