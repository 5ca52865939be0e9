"""Lean GCS listings and descriptions (providers/native/gcs_list) without the SDK, and a
replication to GCS that never imports google-cloud-storage.

Every page, token and field of a lean listing is compared with google-cloud-storage's own
listing of the same gcp-storage-emulator bucket (page by page, the SDK's token handed to
the lean request and the other way round), with awkward keys; the parser also reads a
published objects.list answer (tests/native/vectors/gcs, with provenance) exactly as the
SDK's Blob reads it. The copy a replication makes is checked against the md5Hash/crc32c
the emulator computed and the bytes read back."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from providers.errors import BucketNotFoundError, ObjectNotFoundError
from providers.gcp import GCPProvider
from providers.gcp.storage import GCSStorage
from providers.native import byte_path
from providers.native.gcs_account import USER_AGENT
from providers.native.gcs_list import LIST_FIELDS, parse_page, rfc3339_nanos
from providers.retry import RetryPolicy
from tests.fakes.faulty_proxy import FaultyProxy
from tests.fakes.gcs import FakeGCS

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(__file__).parent / "vectors" / "gcs"
FAST = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02)
KEYS = [
    "a b.txt",
    "d/é😀.bin",
    "d/nested/x",
    "h#sh",
    "pct%25",
    "plus+sign",
    "q?x=1&y=2",
    "sp ace/y z",
    "~tilde",
    "日本/語",
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sdk_client(endpoint: str) -> Any:
    return storage.Client(project="test-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": endpoint})  # fmt: skip


def stores(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[GCSStorage, GCSStorage]:
    """(lean, sdk): the bucket as the provider opens it, on each data plane."""
    out = []
    for plane in ("native", "sdk"):
        monkeypatch.setenv("SPECIFY_DATA_PLANE", plane)
        store = GCPProvider().get_storage(name)
        assert isinstance(store, GCSStorage)
        store.retry_policy = FAST
        out.append(store)
    monkeypatch.delenv("SPECIFY_DATA_PLANE")
    lean, sdk = out
    assert lean.lean_account is not None and sdk.lean_account is None
    return lean, sdk


@pytest.fixture
def filled(emulators: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[GCSStorage, GCSStorage]:
    emulators.reset_gcs()  # the emulator slows down as objects pile up
    name = f"list-{uuid.uuid4().hex[:12]}"
    lean, sdk = stores(name, monkeypatch)
    sdk.create_bucket()
    for i, key in enumerate(KEYS):
        data = os.urandom(100 + i)
        sdk.upload_stream(io.BytesIO(data), key, size=len(data), sha256=sha(data),
                          metadata={"owner": f"t{i}", "Mixed Case": "v é"})  # fmt: skip
    return lean, sdk


def walk(lean: GCSStorage, sdk: GCSStorage, prefix: str, page_size: int) -> int:
    """Page by page, each side's page for the same token: equal objects, equal next
    tokens (so every token the SDK would follow is the one the lean request follows)."""
    token: str | None = None
    pages = 0
    while True:
        ours, our_token = lean.list_page(prefix, token, page_size)
        theirs, their_token = sdk.list_page(prefix, token, page_size)
        assert ours == theirs and our_token == their_token, (prefix, token)
        pages += 1
        if our_token is None:
            return pages
        token = our_token


# ---------------------------------------------------------------- against the SDK itself
@pytest.mark.emulators
@pytest.mark.parametrize("page_size", [1, 3, 1000])
@pytest.mark.parametrize("prefix", ["", "d/", "sp ace/", "p", "日本", "q?", "none/"])
def test_pages_and_tokens_are_the_sdks(
    filled: tuple[GCSStorage, GCSStorage],
    prefix: str,
    page_size: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the emulator (which answers every listing in one page), then on a JSON API fake
    that pages by maxResults/pageToken, holding the emulator's own object resources."""
    lean, sdk = filled
    expected = [k for k in sorted(KEYS) if k.startswith(prefix)]
    walk(lean, sdk, prefix, page_size)
    assert [o.key for o in lean.list_objects(prefix)] == expected
    assert lean._client is None  # no storage.Client was built for any of it
    client = sdk_client(os.environ["SPECIFY_GCS_URL"])
    with FakeGCS() as fake:
        fake.objects = {b.name: b._properties for b in client.list_blobs(lean.bucket_name)}
        paged = []
        for plane in ("native", "sdk"):
            monkeypatch.setenv("SPECIFY_DATA_PLANE", plane)
            provider = GCPProvider("test-project", credentials=AnonymousCredentials(),
                                   endpoints={"storage": fake.url})  # fmt: skip
            store = provider.get_storage(lean.bucket_name)
            assert isinstance(store, GCSStorage)
            paged.append(store)
        assert paged[0].lean_account is not None and paged[1].lean_account is None
        start = len(fake.requests)
        pages = walk(paged[0], paged[1], prefix, page_size)
        assert pages == max(1, -(-len(expected) // page_size))
        listings = [r for r in fake.requests[start:] if r.path.endswith("/o")]
        assert len(listings) == 2 * pages  # (the SDK also looks its bucket up, once)
        assert [o.key for o in paged[0].list_objects(prefix)] == expected
        assert paged[0]._client is None


@pytest.mark.emulators
def test_every_field_of_a_listing_is_the_sdks_reading(
    filled: tuple[GCSStorage, GCSStorage],
) -> None:
    """The lean listing's objects against the SDK's Blob objects of the same listing:
    size, md5, crc32c, generation, updated, etag, our sha256 record and user metadata."""
    lean, sdk = filled
    blobs = list(sdk_client(os.environ["SPECIFY_GCS_URL"]).list_blobs(lean.bucket_name))
    ours = {o.key: o for o in lean.list_objects()}
    assert sorted(ours) == sorted(KEYS) == [b.name for b in blobs]
    for blob in blobs:
        obj = ours[blob.name]
        assert obj == sdk._object(blob)
        assert obj.size == blob.size and obj.version_id == str(blob.generation)
        assert obj.hashes == {"md5": base64.b64decode(blob.md5_hash).hex(),
                              "crc32c": blob.crc32c}  # fmt: skip
        assert obj.last_modified == blob.updated and obj.etag == blob.etag
        assert obj.metadata == {"owner": f"t{KEYS.index(blob.name)}", "mixed case": "v é"}
        assert obj.sha256 is not None and obj.sha256 == (blob.metadata or {})["sha256"]


@pytest.mark.emulators
def test_key_ranges_are_the_sdks(filled: tuple[GCSStorage, GCSStorage]) -> None:
    lean, sdk = filled
    for start, end in (("d/", "q"), ("h#sh", None), (None, "pct%25"), ("zz", None)):
        ours = list(lean.list_range("", start, end, page_size=2))
        assert ours == list(sdk.list_range("", start, end, page_size=2)), (start, end)
        assert [o.key for o in ours] == [
            k for k in sorted(KEYS) if (start is None or k >= start) and (end is None or k < end)
        ]


@pytest.mark.emulators
def test_head_exists_and_not_found_are_the_sdks(
    filled: tuple[GCSStorage, GCSStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, sdk = filled
    for key in KEYS:
        assert lean.head(key) == sdk.head(key)
        assert lean.exists(key) and sdk.exists(key)
    assert not lean.exists("no such key") and not sdk.exists("no such key")
    for store in (lean, sdk):
        with pytest.raises(ObjectNotFoundError, match="no object 'no#such'"):
            store.head("no#such")
    assert lean.bucket_exists() and lean._client is None
    missing_lean, missing_sdk = stores(f"gone-{uuid.uuid4().hex[:10]}", monkeypatch)
    for store in (missing_lean, missing_sdk):
        assert not store.bucket_exists()
        with pytest.raises(BucketNotFoundError, match="Create the bucket first"):
            store.list_page()
        with pytest.raises(BucketNotFoundError):
            store.head("k")
        with pytest.raises(BucketNotFoundError):
            store.exists("k")


@pytest.mark.emulators
def test_the_listing_asks_only_for_what_planning_reads(
    filled: tuple[GCSStorage, GCSStorage],
) -> None:
    lean, _ = filled
    with FaultyProxy(os.environ["SPECIFY_GCS_URL"], p503=0, pdrop=0) as proxy:
        account = lean.lean_account
        assert account is not None
        proxied = GCSStorage(lean.bucket_name, project="test-project",
                             connect=lambda: sdk_client(proxy.url),
                             lean_account=type(account)(base=proxy.url, project="test-project"),
                             data_plane=lean.data_plane)  # fmt: skip
        assert [o.key for o in proxied.list_objects()] == sorted(KEYS)
        (get,) = [(m, path) for m, path, agent in proxy.agents if agent == USER_AGENT]
    assert get[0] == "GET" and "fields=" in get[1] and "projection=noAcl" in get[1]
    assert byte_path(proxied) is not None and proxied._client is None


# ---------------------------------------------------------------- a published answer
def test_a_published_objects_list_answer_is_read_as_the_sdk_reads_it() -> None:
    body = (VECTORS / "objects_list.json").read_bytes()
    resources, token = parse_page(body)
    assert token == "CgYxMC5wbmc=" and [r["name"] for r in resources] == ["1.png", "2.png"]
    client = sdk_client("http://127.0.0.1:9")
    store = GCSStorage("example", client=client, project="test-project")
    bucket = client.bucket("example")
    for resource in resources:
        blob = storage.Blob(resource["name"], bucket=bucket)
        blob._set_properties(resource)  # the SDK's reading of a listed item
        assert store._object_of(resource) == store._object(blob)
    first = store._object_of(resources[0])
    # the values the answer's publisher asserts (OpenDAL's test), read into our types
    assert (first.key, first.size, first.etag) == ("1.png", 56535, "CKWasoTgyPkCEAE=")
    assert first.hashes == {"md5": base64.b64decode("fHcEH1vPwA6eTPqxuasXcg==").hex(),
                            "crc32c": "j/un9g=="}  # fmt: skip
    assert first.last_modified == datetime(2022, 8, 15, 11, 33, 34, 866000, tzinfo=UTC)
    assert first.version_id == "1660563214863653" and first.sha256 is None
    assert store._object_of(resources[1]).size == 45506


def test_timestamps_are_read_as_the_sdk_reads_them() -> None:
    from google.cloud._helpers import _rfc3339_nanos_to_datetime

    for text in ("2022-08-15T11:33:34Z", "2022-08-15T11:33:34.8Z", "2022-08-15T11:33:34.866Z",
                 "2022-08-15T11:33:34.123456789Z", "1970-01-01T00:00:00.000001Z"):  # fmt: skip
        assert rfc3339_nanos(text) == _rfc3339_nanos_to_datetime(text), text
    bad_forms = ["2022-08-15T11:33:34+00:00", "2022-08-15 11:33:34Z", ""]
    out_of_range = ["2026-02-29T00:00:00Z", "2022-13-01T00:00:00Z", "2022-08-15T24:00:00Z",
                    "2022-08-15T11:33:60Z"]  # fmt: skip
    for bad in bad_forms + out_of_range:
        with pytest.raises(ValueError):
            _rfc3339_nanos_to_datetime(bad)
        with pytest.raises(ValueError):
            rfc3339_nanos(bad)


def test_the_fields_name_what_the_store_reads() -> None:
    assert LIST_FIELDS == "items(name,size,updated,etag,metadata,md5Hash,crc32c,generation)," \
        "nextPageToken"  # fmt: skip
    with pytest.raises(ValueError):
        parse_page(b'{"items": [1]}')
    assert parse_page(b'{"kind": "storage#objects"}') == ([], None)


# ---------------------------------------------------------------- start-up
PROBE = """
import json, sys
from commands.main import main
sys.argv = ["specify", "cloud", "replicate", sys.argv[1], "--to", sys.argv[2], "--json"]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
heavy = [m for m in ("google.cloud.storage", "google.api_core", "requests", "grpc")
         if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.emulators
def test_a_run_to_gcs_never_imports_the_storage_sdk(emulators: Any, tmp_path: Path) -> None:
    emulators.reset_gcs()
    name = f"boot-{uuid.uuid4().hex[:12]}"
    client = sdk_client(os.environ["SPECIFY_GCS_URL"])
    client.create_bucket(name)
    src = tmp_path / "src"
    (src / "d d").mkdir(parents=True)
    files = {f"d d/{i}#é.bin": os.urandom(1000 + 7 * i) for i in range(6)}
    files["top+level"] = b""
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SPECIFY_STATE_DIR": str(tmp_path / "st"),
           "SPECIFY_AUDIT_LOG": "off"}  # fmt: skip
    env.pop("SPECIFY_DATA_PLANE", None)

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, str(src), f"gs://{name}"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        probe = json.loads(proc.stderr.strip().splitlines()[-1])
        return probe, json.loads(proc.stdout)

    probe, report = run()
    assert probe == {"code": 0, "heavy": []}, probe
    (target,) = report["targets"]
    assert target["ok"] and target["copied"] == len(files)
    # the copy, as the emulator computed it: md5Hash and crc32c of the bytes it stored
    blobs = {b.name: b for b in client.list_blobs(name)}
    assert sorted(blobs) == sorted(files)
    for rel, data in files.items():
        blob = blobs[rel]
        assert blob.size == len(data)
        assert blob.md5_hash == base64.b64encode(hashlib.md5(data).digest()).decode()
        assert blob.crc32c == base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
        assert (blob.metadata or {}).get("sha256") == sha(data)
        # a fresh handle: a listed blob's mediaLink is the emulator's, unquoted ('#')
        assert client.bucket(name).blob(rel).download_as_bytes() == data
    probe, report = run()  # the no-op run lists the bucket, lean too
    assert probe == {"code": 0, "heavy": []}, probe
    assert report["targets"][0]["skipped"] == len(files)
