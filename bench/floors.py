"""Floors for the replication scenarios: the same bytes moved by bare client calls.

    python bench/floors.py {sdk|obstore} SCENARIO ARGS... [--transfers N]

    upload SRC_DIR s3://B            scenarios 1 and 5 (one PUT / multipart per file)
    fanout SRC_DIR URL [URL ...]     scenario 2 (every file to every target)
    noop   SRC_DIR URL               scenario 3 (walk, list the target, compare sizes)
    copy   s3://B az://C             scenario 4 (list S3, GET + PUT each object)

`sdk` uses boto3 / google-cloud-storage / azure-storage-blob; `obstore` uses the Rust
object_store bindings (S3 path-style against moto, Azure with an explicit endpoint
against Azurite). The GCS emulator does not speak the XML API object_store's GCS client
uses (no ETag / Last-Modified on PUT and GET answers, 501 on `?list-type=2`), so gs://
targets always go through the SDK, also in the obstore floor. No planning, checksums,
verification, journal or retries: this is what the clients themselves cost. Endpoints
and keys come from the environment the emulators export (AWS_ENDPOINT_URL,
AZURE_STORAGE_CONNECTION_STRING, STORAGE_EMULATOR_HOST). Prints the object count.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MULTIPART = 8 * 1024 * 1024  # what our stores and rclone use as the part size


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            p = Path(dirpath) / name
            yield p.relative_to(root).as_posix(), p


def _conn() -> dict[str, str]:
    raw = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    return dict(part.split("=", 1) for part in raw.split(";") if "=" in part)


class Target:
    """put(key, data|path) and sizes() for one location, on one client library."""

    def __init__(self, url: str, lib: str, transfers: int) -> None:
        scheme, _, rest = url.partition("://")
        self.bucket = rest.split("/", 1)[0]
        self.kind = scheme
        self.lib = "sdk" if scheme == "gs" else lib
        self.transfers = transfers
        getattr(self, f"_open_{self.kind}_{self.lib}")()

    # -- S3 -----------------------------------------------------------------------------
    def _open_s3_sdk(self) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.s3 = boto3.client(
            "s3",
            config=Config(
                max_pool_connections=2 * self.transfers, s3={"addressing_style": "path"}
            ),
        )
        self.tc = TransferConfig(
            multipart_threshold=MULTIPART,
            multipart_chunksize=MULTIPART,
            max_concurrency=self.transfers,
        )

    def _open_s3_obstore(self) -> None:
        from obstore.store import S3Store

        self.store = S3Store(
            self.bucket,
            endpoint=os.environ["AWS_ENDPOINT_URL"],
            access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

    # -- Azure --------------------------------------------------------------------------
    def _open_az_sdk(self) -> None:
        from azure.storage.blob import BlobServiceClient

        self.container = BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"], use_env_settings=False
        ).get_container_client(self.bucket)

    def _open_az_obstore(self) -> None:
        from obstore.store import AzureStore

        c = _conn()
        self.store = AzureStore(
            self.bucket,
            account_name=c["AccountName"],
            account_key=c["AccountKey"],
            endpoint=c["BlobEndpoint"].rstrip("/"),
            client_options={"allow_http": True},
        )

    # -- GCS ----------------------------------------------------------------------------
    def _open_gs_sdk(self) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project="test-project", credentials=AnonymousCredentials())
        self.gcs = client.bucket(self.bucket)

    # -- operations ---------------------------------------------------------------------
    def put(self, key: str, src: bytes | Path) -> None:
        if self.lib == "obstore":
            import obstore

            obstore.put(self.store, key, src, chunk_size=MULTIPART, max_concurrency=self.transfers)
        elif self.kind == "s3":
            if isinstance(src, Path):
                self.s3.upload_file(str(src), self.bucket, key, Config=self.tc)
            else:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=src)
        elif self.kind == "az":
            data = src.read_bytes() if isinstance(src, Path) else src
            self.container.get_blob_client(key).upload_blob(data, overwrite=True)
        else:
            blob = self.gcs.blob(key)
            if isinstance(src, Path):
                blob.upload_from_filename(str(src))
            else:
                blob.upload_from_string(src)

    def get(self, key: str) -> bytes:
        if self.lib == "obstore":
            import obstore

            return bytes(obstore.get(self.store, key).bytes())
        if self.kind == "s3":
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        if self.kind == "az":
            return bytes(self.container.get_blob_client(key).download_blob().readall())
        return bytes(self.gcs.blob(key).download_as_bytes())

    def sizes(self) -> dict[str, int]:
        if self.lib == "obstore":
            import obstore

            return {m["path"]: m["size"] for page in obstore.list(self.store) for m in page}
        if self.kind == "s3":
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            return {i["Key"]: i["Size"] for p in pages for i in p.get("Contents", [])}
        if self.kind == "az":
            return {b.name: b.size for b in self.container.list_blobs()}
        return {b.name: b.size for b in self.gcs.client.list_blobs(self.bucket)}


def _pool(transfers: int, fn: Callable[[Any], None], items: list[Any]) -> None:
    with ThreadPoolExecutor(transfers) as pool:
        list(pool.map(fn, items))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("lib", choices=["sdk", "obstore"])
    p.add_argument("scenario", choices=["upload", "fanout", "noop", "copy"])
    p.add_argument("args", nargs="+")
    p.add_argument("--transfers", type=int, default=8)
    a = p.parse_args(argv)
    n = 0
    if a.scenario in ("upload", "fanout"):
        files = list(_files(Path(a.args[0])))
        targets = [Target(u, a.lib, a.transfers) for u in a.args[1:]]
        big = files and files[0][1].stat().st_size >= MULTIPART

        def one(item: tuple[str, Path]) -> None:
            key, path = item
            src: bytes | Path = path if big else path.read_bytes()
            for t in targets:
                t.put(key, src)

        if big:  # large files one at a time, parts in parallel (as rclone and we do)
            for item in files:
                one(item)
        else:
            _pool(a.transfers, one, files)
        n = len(files)
    elif a.scenario == "noop":
        local = {k: p.stat().st_size for k, p in _files(Path(a.args[0]))}
        remote = Target(a.args[1], a.lib, a.transfers).sizes()
        n = sum(1 for k, s in local.items() if remote.get(k) == s)
    else:
        src, dst = Target(a.args[0], a.lib, a.transfers), Target(a.args[1], a.lib, a.transfers)
        keys = list(src.sizes())
        _pool(a.transfers, lambda k: dst.put(k, src.get(k)), keys)
        n = len(keys)
    print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
