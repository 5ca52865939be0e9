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
from providers.errors import BucketNotFoundError, CredentialsError, ObjectNotFoundError
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


# ---------------------------------------------------------------- a server that checks
@pytest.fixture(scope="module")
def checking_moto(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A moto server of its own that checks every signature (moto's access control:
    after INITIAL_NO_AUTH_ACTION_COUNT requests, each must be signed by a known IAM key,
    verified with botocore's S3SigV4Auth over the request as it arrived)."""
    import time
    import urllib.request

    from tests.emulators import _find_script, free_port

    port = free_port()
    log = (tmp_path_factory.mktemp("moto-auth") / "moto.log").open("wb")
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [str(_find_script("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        iam = boto3.client(
            "iam", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        iam.create_user(UserName="lean")  # the three requests moto lets through unsigned
        key = iam.create_access_key(UserName="lean")["AccessKey"]
        iam.put_user_policy(
            UserName="lean", PolicyName="s3",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
        )  # fmt: skip
        yield url, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_a_server_that_checks_signatures_takes_ours_and_refuses_a_wrong_one(
    checking_moto: tuple[str, str, str], tmp_path: Path
) -> None:
    url, key_id, secret = checking_moto
    keys = AWSCredentials(aws_access_key_id=key_id, aws_secret_access_key=secret)
    signed = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key_id,
        aws_secret_access_key=secret, config=client_config("s3", custom_endpoint=True),
    )  # fmt: skip
    name = f"auth-{uuid.uuid4().hex[:10]}"
    unknown = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=client_config("s3", custom_endpoint=True),
    )  # fmt: skip
    with pytest.raises(Exception, match=r"InvalidAccessKeyId"):  # the server does check
        unknown.create_bucket(Bucket=name)
    signed.create_bucket(Bucket=name)

    def store(secret_key: str) -> S3Storage:
        creds = AWSCredentials(aws_access_key_id=key_id, aws_secret_access_key=secret_key)
        found = S3Account.resolve(creds, "us-east-1", url)
        assert found is not None
        return S3Storage(None, name, account=found, client_factory=lambda: signed,
                         data_plane=NATIVE)  # fmt: skip

    good = store(keys.aws_secret_access_key or "")
    data = os.urandom(3000)
    src = tmp_path / "x"
    src.write_bytes(data)
    # keys moto's check re-signs as sent: it decodes the path first, so it refuses even
    # boto3's own signature of a key with 'ü', '+', '=', '%', ';' or ',' (awkward keys are
    # checked against botocore's signer in test_s3_sigv4.py and on plain moto above)
    keys_sent = ("plain", "a b/c~d.bin", "dir/sub/x")
    for key in keys_sent:
        good.upload(src, key)  # a signed PUT with the payload's sha256
        with good.open_read(key) as fh:
            assert fh.read() == data
    listed = [o.key for o in good.list_objects()]
    assert listed == sorted(keys_sent, key=str.encode)
    page, token = good.list_page("", None, 1, start_after="a")
    assert [o.key for o in page] == ["a b/c~d.bin"] and token
    page, token = good.list_page("", token, 1)
    assert [o.key for o in page] == ["dir/sub/x"]
    assert good._client is None  # all of it lean, all of it checked by the server
    bad = store(secret[:-1] + ("x" if secret[-1] != "x" else "y"))
    with pytest.raises(CredentialsError):
        list(bad.list_objects())
    with pytest.raises(CredentialsError):
        bad.open_read("plain").read()
    with pytest.raises(CredentialsError):
        bad.upload(src, "refused")
    assert [o.key for o in good.list_objects()] == listed  # nothing written by the bad one


def test_a_read_pinned_to_a_changed_etag_or_an_older_version(tmp_path: Path) -> None:
    import io

    from providers.errors import CloudError

    name = f"lean-{uuid.uuid4().hex[:12]}"
    with FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0) as proxy:
        store = lean_store(name, proxy.url)
        store.create_bucket()  # boto3 (bucket setup is not lean)
        store.set_versioning(True)
        first, second = os.urandom(20_000), os.urandom(20_000)
        sha = hashlib.sha256
        v1 = store.upload_stream(io.BytesIO(first), "v.bin", size=20_000,
                                 sha256=sha(first).hexdigest())  # fmt: skip
        store.upload_stream(io.BytesIO(second), "v.bin", size=20_000,
                            sha256=sha(second).hexdigest())  # fmt: skip
        assert v1.version_id and v1.verified and v1.evidence == "s3:etag-md5"
        lean = byte_path(store)
        with pytest.raises(CloudError, match=r"412|Precondition"):
            lean.open("v.bin", if_match=v1.etag, map_error=store.map_error).read()  # type: ignore[union-attr]
        assert (
            store.download("v.bin", tmp_path / "1", version_id=v1.version_id).read_bytes() == first
        )
        assert store.download("v.bin", tmp_path / "2").read_bytes() == second
    gets = [p for m, p, a in proxy.agents if m == "GET" and a == USER_AGENT]
    assert any(f"versionId={v1.version_id}" in p for p in gets), gets
    puts = [a for m, _, a in proxy.agents if m == "PUT" and "v.bin" in _]
    assert puts == [USER_AGENT, USER_AGENT], puts


def test_head_reads_as_boto3_reads_it(tmp_path: Path) -> None:
    import io

    from boto3.s3.transfer import TransferConfig

    name = f"lean-{uuid.uuid4().hex[:12]}"
    client = boto(os.environ["SPECIFY_MOTO_URL"])
    sdk = S3Storage(client, name)
    sdk.create_bucket()
    sdk.set_versioning(True)
    lean = lean_store(name)
    small = os.urandom(5000)
    client.put_object(Bucket=name, Key="raw", Body=small)  # no sha256 record
    client.put_object(Bucket=name, Key="meta", Body=small, Metadata={"Owner": "Me", "x": "a b"},
                      ChecksumAlgorithm="SHA256")  # fmt: skip
    big = os.urandom(9 * 1024 * 1024)
    client.upload_fileobj(io.BytesIO(big), name, "boto-multipart",
                          Config=TransferConfig(multipart_threshold=5 * 1024 * 1024))  # fmt: skip
    sha = hashlib.sha256(big).hexdigest()
    ours = lean.upload_stream(io.BytesIO(big), "our-multipart", size=len(big), sha256=sha)
    first = lean.upload_stream(io.BytesIO(small), "a b/ü+x", size=5000,
                               sha256=hashlib.sha256(small).hexdigest())  # fmt: skip
    lean.upload_stream(io.BytesIO(b"2" * 10), "a b/ü+x", size=10,
                       sha256=hashlib.sha256(b"2" * 10).hexdigest())  # fmt: skip
    for key in ("raw", "meta", "boto-multipart", "our-multipart", "a b/ü+x"):
        assert lean.head(key) == sdk.head(key), key
    assert lean.head("a b/ü+x", version_id=first.version_id) == sdk.head(
        "a b/ü+x", version_id=first.version_id
    )
    part = TransferConfig().multipart_chunksize  # boto3's part size: HEAD of part 1 says it
    assert lean.head("boto-multipart").hashes.get("s3-etag", "").endswith(f"-2@{part}")
    assert ours.verified
    assert lean.exists("raw") and not lean.exists("no such key")
    with pytest.raises(BucketNotFoundError):
        lean_store(f"none-{uuid.uuid4().hex[:8]}").head("x")
    assert not lean_store(f"none-{uuid.uuid4().hex[:8]}").bucket_exists()


def test_the_lean_requests_trust_the_ca_bundle_botocore_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto behind https with a private CA's certificate: AWS_CA_BUNDLE naming the CA is
    trusted (as botocore trusts it); the system roots refuse it and nothing is written."""
    import io
    import ssl

    from providers.errors import CloudError
    from tests.native.test_data_plane import private_ca

    ca, cert, key = private_ca(tmp_path)
    name = f"lean-{uuid.uuid4().hex[:12]}"
    boto(os.environ["SPECIFY_MOTO_URL"]).create_bucket(Bucket=name)
    proxy = FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    proxy._server.socket = ctx.wrap_socket(proxy._server.socket, server_side=True)
    data = os.urandom(40_000)
    with proxy:
        url = proxy.url.replace("http://", "https://")
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
        store = lean_store(name, url)
        assert store.lean_account is not None and store.lean_account.verify == str(ca)
        put = store.upload_stream(io.BytesIO(data), "t.bin", size=len(data),
                                  sha256=hashlib.sha256(data).hexdigest())  # fmt: skip
        assert put.verified
        with store.open_read("t.bin") as fh:
            assert fh.read() == data
        monkeypatch.delenv("AWS_CA_BUNDLE")
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        system = lean_store(name, url)
        with pytest.raises(CloudError, match=r"TLS|certificate"):
            system.upload_stream(io.BytesIO(data), "u.bin", size=len(data),
                                 sha256=hashlib.sha256(data).hexdigest())  # fmt: skip
    assert sorted(m for m, p, a in proxy.agents if a == USER_AGENT and "t.bin" in p) == [
        "GET", "PUT"]  # fmt: skip
    assert not S3Storage(boto(os.environ["SPECIFY_MOTO_URL"]), name).exists("u.bin")


def test_the_lean_requests_go_through_the_proxy_of_the_environment(
    filled: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, keys = filled
    for var in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        store = lean_store(name)
        assert [o.key for o in store.list_objects()] == keys
        with store.open_read(keys[0]) as fh:
            fh.read()
    sent = [(m, p) for m, p, a in proxy.agents if a == USER_AGENT]
    assert sorted(m for m, _ in sent) == ["GET", "GET"]
    # a forward proxy receives the absolute URL of the endpoint
    assert all(p.startswith(os.environ["SPECIFY_MOTO_URL"]) for _, p in sent), sent


def test_metadata_the_lean_put_cannot_send_as_botocore_goes_through_boto3(tmp_path: Path) -> None:
    import io

    name = f"lean-{uuid.uuid4().hex[:12]}"
    client = boto(os.environ["SPECIFY_MOTO_URL"])
    client.create_bucket(Bucket=name)
    with FaultyProxy(os.environ["SPECIFY_MOTO_URL"], p503=0, pdrop=0) as proxy:
        store = lean_store(name, proxy.url)
        data = b"m" * 100
        sha = hashlib.sha256(data).hexdigest()
        store.upload_stream(io.BytesIO(data), "plain", size=100, sha256=sha, metadata={"a": "b"})
        assert store._client is None
        for i, meta in enumerate(({"a": " padded"}, {"a": "tab\there"})):
            got = store.upload_stream(
                io.BytesIO(data), f"odd{i}", size=100, sha256=sha, metadata=meta
            )
            assert got.verified and got.evidence == "s3:etag-md5"
        # botocore refuses non-ASCII metadata, naming it: the same refusal on this path
        from providers.errors import UploadError

        with pytest.raises(UploadError, match="ASCII"):
            store.upload_stream(io.BytesIO(data), "odd2", size=100, sha256=sha,
                                metadata={"a": "ünï"})  # fmt: skip
    agents = {p.rsplit("/", 1)[-1]: a for m, p, a in proxy.agents if m == "PUT"}
    assert agents["plain"] == USER_AGENT
    assert all(not agents[f"odd{i}"].startswith("specify") for i in range(2)), agents
    assert "odd2" not in agents
    for i in range(2):
        assert client.get_object(Bucket=name, Key=f"odd{i}")["Body"].read() == data
