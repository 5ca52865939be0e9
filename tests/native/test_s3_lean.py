"""The lean S3 requests (providers/native/s3_*): a store opened with static keys lists,
reads and writes single objects without boto3, and means the same as boto3 does.

Every listing page and token is compared with boto3's own listing of the same moto
bucket; reads and writes are checked by the bytes and hashes moto reports through boto3;
a replicate run S3 -> Azure is checked to never import boto3, botocore or the obstore
S3 byte path."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from providers.aws.adapter import client_config
from providers.aws.settings import AWSCredentials
from providers.aws.storage import S3Storage
from providers.errors import BucketNotFoundError, ObjectNotFoundError
from providers.native import DataPlaneSettings, byte_path
from providers.native.s3_account import S3Account
from providers.native.s3_request import USER_AGENT
from tests.fakes.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.emulators

REPO = Path(__file__).resolve().parents[2]
NATIVE = DataPlaneSettings("native")
AWKWARD = ["plain.bin", "a b/c d.txt", "ünï/cödé.bin", "plus+sign", "eq=ual&amp", "tilde~x",
           "per%cent%20", "semi;colon", "q?mark", "star*(paren)", "emoji😀.txt", "'quote\"",
           "hash#frag", "dir/sub/deep/x", "dir/sub/y", "dir/z", "ZZ-upper", "__under",
           "comma,at@colon:", "dots/./and/../x"]  # fmt: skip


def boto(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        config=client_config("s3", custom_endpoint=True),
    )  # fmt: skip


def account(endpoint: str, secret: str | None = None) -> S3Account:
    creds = AWSCredentials(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=secret or os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    got = S3Account.resolve(creds, "us-east-1", endpoint)
    assert got is not None
    return got


def lean_store(bucket: str, endpoint: str | None = None, **kw: Any) -> S3Storage:
    url = endpoint or os.environ["SPECIFY_MOTO_URL"]
    return S3Storage(
        None, bucket, account=account(url, kw.pop("secret", None)),
        client_factory=lambda: boto(url), data_plane=NATIVE, **kw,
    )  # fmt: skip


@pytest.fixture
def filled() -> tuple[str, list[str]]:
    name = f"lean-{uuid.uuid4().hex[:12]}"
    client = boto(os.environ["SPECIFY_MOTO_URL"])
    client.create_bucket(Bucket=name)
    for i, key in enumerate(AWKWARD):
        client.put_object(Bucket=name, Key=key, Body=os.urandom(100 + i))
    return name, sorted(AWKWARD, key=lambda k: k.encode())


def test_pages_and_tokens_are_boto3s(filled: tuple[str, list[str]]) -> None:
    name, keys = filled
    client = boto(os.environ["SPECIFY_MOTO_URL"])
    store = lean_store(name)
    walks = [("", 3, None), ("dir/", 1, None), ("", 4, "dir/sub"), ("", 1000, None),
             ("ü", 2, None), ("nothing", 5, None)]  # fmt: skip
    for prefix, size, after in walks:
        token: str | None = None
        theirs_token: str | None = None
        first = True
        while first or token:
            first = False
            ours, token = store.list_page(prefix, token, size, start_after=after)
            args: dict[str, Any] = {"Bucket": name, "Prefix": prefix, "MaxKeys": size}
            if theirs_token:
                args["ContinuationToken"] = theirs_token
            elif after:
                args["StartAfter"] = after
            page = client.list_objects_v2(**args)
            theirs_token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            assert token == theirs_token
            assert [(o.key, o.size, o.etag, o.last_modified) for o in ours] == [
                (c["Key"], c["Size"], c["ETag"].strip('"'), c["LastModified"])
                for c in page.get("Contents", [])
            ]
            assert all(o.hashes == {"md5": o.etag} for o in ours)
    assert [o.key for o in store.list_objects()] == keys
    assert store._client is None, "the lean listing built a boto3 client"


def test_reads_are_checked_bytes(filled: tuple[str, list[str]]) -> None:
    name, keys = filled
    client = boto(os.environ["SPECIFY_MOTO_URL"])
    store = lean_store(name)
    assert type(byte_path(store)).__name__ == "S3Requests"
    for key in keys:
        if any(part in (".", "..") for part in key.split("/")):
            continue  # the store's key check refuses these (listings still show them)
        want = client.get_object(Bucket=name, Key=key)["Body"].read()
        with store.open_read(key) as fh:
            assert fh.read() == want, key
    assert store._client is None


def test_a_write_is_stored_as_sent_and_verified(tmp_path: Path) -> None:
    name = f"lean-{uuid.uuid4().hex[:12]}"
    client = boto(os.environ["SPECIFY_MOTO_URL"])
    client.create_bucket(Bucket=name)
    store = lean_store(name)
    data = os.urandom(70_000)
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    store.upload(src, "a b/ü+x.bin", {"owner": "me"})
    assert store._client is None, "the lean PUT built a boto3 client"
    got = client.get_object(Bucket=name, Key="a b/ü+x.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    assert got["Metadata"] == {"owner": "me", "sha256": hashlib.sha256(data).hexdigest()}
    head = store.head("a b/ü+x.bin")  # boto3 from here (HEAD is not lean)
    assert head.sha256 == hashlib.sha256(data).hexdigest() and head.size == len(data)


def test_refusals_map_as_on_the_sdk_path(filled: tuple[str, list[str]]) -> None:
    name, _ = filled
    with pytest.raises(ObjectNotFoundError):
        lean_store(name).open_read("no/such/key").read()
    with pytest.raises(BucketNotFoundError):
        list(lean_store(f"none-{uuid.uuid4().hex[:8]}").list_objects())


def test_the_lean_requests_go_to_the_endpoint_with_their_agent(
    filled: tuple[str, list[str]],
) -> None:
    name, keys = filled
    with FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0) as proxy:
        store = lean_store(name, proxy.url)
        assert [o.key for o in store.list_objects()] == keys
        with store.open_read(keys[0]) as fh:
            fh.read()
    agents = {a for _, _, a in proxy.agents}
    assert agents == {USER_AGENT}, agents


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
# providers.native.s3 is the obstore S3 byte path (obstore itself may serve the Azure side)
heavy = [m for m in ("boto3", "botocore", "providers.native.s3", "azure.storage.blob",
                     "aiohttp") if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def test_a_run_from_s3_to_azure_never_imports_boto3(tmp_path: Path) -> None:
    from azure.storage.blob import BlobServiceClient

    src = f"boot-{uuid.uuid4().hex[:12]}"
    dst = f"boot-{uuid.uuid4().hex[:12]}"
    client = boto(os.environ["SPECIFY_MOTO_URL"])
    client.create_bucket(Bucket=src)
    blobs = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    blobs.create_container(dst)
    data = {f"d/{i} ü+.bin": os.urandom(5000 + i) for i in range(6)}
    for key, body in data.items():
        client.put_object(Bucket=src, Key=key, Body=body)  # no sha256 record: ETags check
    env = {**os.environ, "PYTHONPATH": str(REPO), "SPECIFY_STATE_DIR": str(tmp_path / "st"),
           "SPECIFY_AUDIT_LOG": "off"}  # fmt: skip
    env.pop("SPECIFY_DATA_PLANE", None)

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, f"s3://{src}", f"az://{dst}"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        probe = json.loads(proc.stderr.strip().splitlines()[-1])
        return probe, json.loads(proc.stdout)

    probe, report = run()
    assert probe == {"code": 0, "heavy": []}, probe
    (target,) = report["targets"]
    assert target["ok"] and target["copied"] == len(data)
    container = blobs.get_container_client(dst)
    for key, body in data.items():
        blob = container.get_blob_client(key)
        assert blob.download_blob().readall() == body
        md5 = blob.get_blob_properties().content_settings.content_md5
        assert bytes(md5) == hashlib.md5(body).digest()  # as Azure computed and reports
    probe, report = run()  # the no-op run lists both, lean too
    assert probe == {"code": 0, "heavy": []}, probe
    assert report["targets"][0]["skipped"] == len(data)
