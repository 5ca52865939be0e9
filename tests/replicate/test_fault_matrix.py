"""The fault matrix: bytes cut and flipped in request and answer bodies, for every cloud.

A loopback proxy (tests/fakes/faulty_proxy.py) sits between the SDK and moto, the GCS
emulator or Azurite and flips one byte in, or cuts, request and answer bodies (plus 503s
and dropped connections). For S3, GCS and Azure, objects of 100 KB, 5 MB and 30 MB go to
the cloud, come from it, and are downloaded. The target already holds an older good
replica. Every run must end with one of two outcomes, checked without the proxy:

- the target holds exactly the source's bytes, the report and the journal say verified
  and by what, and `verify --download` calls it a match; or
- the run names the object as failed, the target still holds the old replica, nothing was
  journaled for it, and `verify` does not call it a match.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from providers.aws.storage import S3Storage
from providers.errors import CloudError
from providers.local.storage import LocalStorage
from providers.native import byte_path, path_name
from providers.replication import Journal, ReplicationOptions, replicate_prefix, verify_prefix
from tests.fakes.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.emulators

MiB = 1024 * 1024
SIZES = {"100KB": 100_000, "5MB": 5 * MiB, "30MB": 30 * MiB}
CLOUDS = ("s3", "gcs", "az")
KEY = "data/obj.bin"

#: per request with a body of object data: faults enough that most runs meet several
FAULTS: dict[str, float] = {
    "p503": 0.04,
    "pdrop": 0.03,
    "pflip_request": 0.12,
    "pcut_request": 0.05,
    "pflip_response": 0.12,
    "pcut_response": 0.05,
}


@pytest.fixture(scope="module")
def payloads() -> dict[str, tuple[bytes, bytes]]:
    """(new, old) content per size; the old one is the replica a failed run must keep."""
    return {name: (os.urandom(n), os.urandom(n)) for name, n in SIZES.items()}


def store(cloud: str, bucket: str, endpoint: str, plane: str = "sdk") -> Any:
    """A store of `cloud` whose SDK talks to endpoint (the emulator, or the proxy);
    plane 'lean' (S3): opened with static keys, as AWSProvider opens it, so that its
    listing and single-object bytes go through the lean requests (providers/native/s3_*)."""
    if cloud == "s3":
        from providers.aws.adapter import client_config

        def client() -> Any:
            return boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                config=client_config("s3", custom_endpoint=True),
            )

        if plane == "lean":
            from providers.aws.settings import AWSCredentials
            from providers.native.s3_account import S3Account

            keys = AWSCredentials(aws_access_key_id="testing", aws_secret_access_key="testing")
            account = S3Account.resolve(keys, "us-east-1", endpoint)
            assert account is not None
            return S3Storage(None, bucket, account=account, client_factory=client)
        return S3Storage(client(), bucket)
    if cloud == "gcs":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from providers.gcp.storage import GCSStorage

        client = storage.Client(
            project="test-project",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
        return GCSStorage(bucket, client=client, project="test-project")
    from providers.azure.storage import AzureBlobStorage
    from tests.emulators import AZURITE_ACCOUNT, AZURITE_KEY

    conn = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )
    return AzureBlobStorage(bucket, connection_string=conn)


def emulator_url(cloud: str) -> str:
    return os.environ[
        {"s3": "SPECIFY_MOTO_URL", "gcs": "SPECIFY_GCS_URL", "az": "SPECIFY_AZURITE_URL"}[cloud]
    ]


@pytest.fixture
def cloud_pair(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Any, FaultyProxy]]:
    """(direct store, store through the faulty proxy, proxy) on a fresh bucket; the
    bytes of both go through the data plane the case names (providers.native)."""
    cloud, seed, first, case_plane = request.param
    plane = "native" if case_plane == "lean" else case_plane
    monkeypatch.setenv("SPECIFY_DATA_PLANE", plane)
    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    direct = store(cloud, bucket, emulator_url(cloud))
    (getattr(direct, "create_bucket", None) or direct.ensure_container)()
    with FaultyProxy(emulator_url(cloud), seed=seed, schedule=[first], **FAULTS) as proxy:
        proxy.enabled = False  # seeding goes around the faults
        faulty = store(cloud, bucket, proxy.url, case_plane)
        assert path_name(faulty) == plane, "the case runs on the data plane it names"
        lean = type(byte_path(faulty)).__name__ == "S3Requests"
        assert lean == (case_plane == "lean"), "the lean case runs on the lean requests"
        yield direct, faulty, proxy


def read(storage: Any, key: str) -> bytes:
    with storage.open_read(key) as fh:
        return bytes(fh.read())


def put(storage: Any, key: str, data: bytes, tmp: Path) -> None:
    f = tmp / f"seed-{uuid.uuid4().hex}"
    f.write_bytes(data)
    storage.upload(f, key)


#: User-Agents of the native clients: obstore, the lean S3 requests and the lean Azure
#: and GCS writers
NATIVE_AGENTS = ("object_store", "specify-cloud-lean", "specify-native-azure", "specify-native-gcs")


def assert_plane(
    proxy: FaultyProxy, method: str, plane: str, *, multipart: bool = False, where: str = KEY
) -> None:
    """The object's bytes went through the client the data plane names: the native
    clients' requests (User-Agent object_store/... or specify-native-azure/...) on the
    native path, none on the SDK path or where the native path leaves the bytes to the
    SDK (multipart=True). `where`: what the request's path holds (the key; for a GCS
    multipart upload the key is in the body, its path the bucket's upload URL)."""
    # the object's own requests (a lean Azure listing is a GET of the container, native
    # on the native plane whatever moves the bytes)
    sent = [a for m, path, a in proxy.agents if m == method and where in path]
    if plane == "native" and not multipart:
        assert sent and all(a.startswith(NATIVE_AGENTS) for a in sent), sent
    else:
        assert not any(a.startswith(NATIVE_AGENTS) for a in sent), sent


def check_outcome(report: Any, target: Any, key: str, new: bytes, old: bytes, source: Any) -> None:
    """Identical bytes and verified, or a named failure with the old replica intact."""
    got = read(target, key)
    journal = Journal(Path(report.journal))
    try:
        done = journal.finished(key)
    finally:
        journal.close()
    (check,) = verify_prefix(source, "", [(target, "")], download=True)
    if report.ok:
        assert got == new, "reported ok but the target's bytes differ from the source"
        assert report.evidence.get(key), report.evidence
        assert done is not None and done[1] == hashlib.sha256(new).hexdigest()
        assert check.ok and key in check.compared_by
    else:
        assert key in report.errors, (report.errors, report.error)
        assert got == old, "a failed run replaced the old replica"
        assert done is None, "a failed copy was journaled"
        assert key in check.differ and not check.ok


CASES = [(c, n) for c in CLOUDS for n in SIZES]
IDS = [f"{c}-{n}" for c, n in CASES]


#: where a native byte path exists (providers.native), every case runs on it as well
#: (S3 twice: obstore's byte path, and the lean requests of a store opened with static keys)
PLANES = {"s3": ("sdk", "native", "lean"), "gcs": ("sdk", "native"), "az": ("sdk", "native")}


def _params(first: str) -> list[Any]:
    return [
        pytest.param((c, 1000 + i, first, plane), n, id=f"{c}-{n}-{plane}")
        for i, (c, n) in enumerate(CASES)
        for plane in PLANES[c]
    ]


@pytest.mark.parametrize(("cloud_pair", "size"), _params("flip_request"), indirect=["cloud_pair"])
def test_to_the_cloud(cloud_pair: Any, size: str, payloads: Any, tmp_path: Path) -> None:
    direct, faulty, proxy = cloud_pair
    new, old = payloads[size]
    put(direct, KEY, old, tmp_path)
    src = LocalStorage(tmp_path / "src")
    put(src, KEY, new, tmp_path)
    proxy.enabled = True
    options = ReplicationOptions(journal_dir=str(tmp_path / "state"), transfers=2)
    (report,) = replicate_prefix(src, "", [(faulty, "")], options)
    proxy.enabled = False
    assert proxy.counts["flip_request"] >= 1, proxy.counts
    check_outcome(report, direct, KEY, new, old, src)
    # native writes: S3 single PUTs, Azure Put Blobs and GCS multipart uploads (< 8 MiB;
    # S3 multipart, Azure block and GCS resumable uploads stay on the SDK)
    plane = cloud_pair_plane(faulty)
    sdk_only = SIZES[size] >= 8 * MiB
    if faulty.provider_name == "gcp":
        where = f"/upload/storage/v1/b/{faulty.bucket_name}/o"
        assert_plane(proxy, "POST", plane, multipart=sdk_only, where=where)
    else:
        assert_plane(proxy, "PUT", plane, multipart=sdk_only)
    lean_evidence = {"azure": "azure:native-put-blob-md5", "gcp": "gcs:native-"}
    if faulty.provider_name in lean_evidence and report.ok and not sdk_only:
        # the lean writer's evidence: a run that bypassed it would say the SDK's
        lean = plane == "native"
        said = report.evidence[KEY]
        assert (lean_evidence[faulty.provider_name] in said) is lean, report.evidence


@pytest.mark.parametrize(("cloud_pair", "size"), _params("flip_response"), indirect=["cloud_pair"])
def test_from_the_cloud(cloud_pair: Any, size: str, payloads: Any, tmp_path: Path) -> None:
    direct, faulty, proxy = cloud_pair
    new, old = payloads[size]
    # written by another tool: no sha256 record, so only the service's own hash can check
    # the source bytes (S3 single-part ETag, GCS md5Hash/crc32c, Azure Content-MD5)
    raw_put(direct, KEY, new)
    dst = LocalStorage(tmp_path / "dst")
    put(dst, KEY, old, tmp_path)
    proxy.enabled = True
    options = ReplicationOptions(journal_dir=str(tmp_path / "state"), transfers=2)
    (report,) = replicate_prefix(faulty, "", [(dst, "")], options)
    proxy.enabled = False
    assert proxy.counts["flip_response"] >= 1, proxy.counts
    check_outcome(report, dst, KEY, new, old, direct)
    # replication reads by key: native on S3; Azure keeps the SDK's per-range MD5
    assert_plane(proxy, "GET", cloud_pair_plane(faulty), multipart=faulty.provider_name != "aws")


@pytest.mark.parametrize(("cloud_pair", "size"), _params("flip_response"), indirect=["cloud_pair"])
def test_download(cloud_pair: Any, size: str, payloads: Any, tmp_path: Path) -> None:
    direct, faulty, proxy = cloud_pair
    new, old = payloads[size]
    raw_put(direct, KEY, new)
    dest = tmp_path / "out.bin"
    dest.write_bytes(old)
    proxy.enabled = True
    try:
        faulty.download(KEY, dest)
    except CloudError as exc:
        assert KEY in str(exc)
        assert dest.read_bytes() == old
    else:
        assert dest.read_bytes() == new
    finally:
        proxy.enabled = False
    assert proxy.counts["flip_response"] >= 1, proxy.counts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no temp file left
    # a download is native when the described object says what its bytes hash to (a
    # block-list blob written by another tool has no Content-MD5: the SDK reads it)
    hashless = faulty.provider_name == "azure" and SIZES[size] >= 8 * MiB
    sdk_reads = faulty.provider_name == "gcp"  # GCS reads stay on the SDK
    assert_plane(proxy, "GET", cloud_pair_plane(faulty), multipart=hashless or sdk_reads)


def cloud_pair_plane(storage: Any) -> str:
    return path_name(storage)


def raw_put(storage: Any, key: str, data: bytes) -> None:
    """Write with the cloud's own SDK and no sha256 metadata, as another tool would."""
    if isinstance(storage, S3Storage):
        if len(data) < 8 * MiB:
            storage.client.put_object(Bucket=storage.bucket, Key=key, Body=data)
        else:  # a multipart object by boto3's own transfer (checksums as it chooses)
            import io

            from boto3.s3.transfer import TransferConfig

            storage.client.upload_fileobj(
                io.BytesIO(data),
                storage.bucket,
                key,
                Config=TransferConfig(multipart_threshold=8 * MiB),
            )
        return
    if storage.provider_name == "gcp":
        storage.client.bucket(storage.bucket_name).blob(key).upload_from_string(data)
        return
    storage.client.get_blob_client(storage.container, key).upload_blob(data, overwrite=True)
