"""The floor for scenario 4: the same copy as bare SDK calls, with nothing else.

    python bench/raw_s3_to_azure.py SOURCE_BUCKET TARGET_CONTAINER [TRANSFERS]

List the S3 bucket, then on TRANSFERS threads GetObject and Put Blob each object: no
planning, checksums, verification, journal, retries or CLI. Endpoints and keys come from
the environment (AWS_ENDPOINT_URL, AZURE_STORAGE_CONNECTION_STRING), as for the emulators.
The benchmark runs it beside `specify cloud replicate` and rclone to show how much of the
time is the Python SDKs themselves.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from azure.storage.blob import BlobServiceClient
from botocore.config import Config


def main() -> int:
    bucket, container = sys.argv[1], sys.argv[2]
    transfers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    s3 = boto3.client("s3", config=Config(max_pool_connections=2 * transfers))
    blobs = BlobServiceClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"], use_env_settings=False
    ).get_container_client(container)
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    ]

    def copy(key: str) -> None:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        blobs.get_blob_client(key).upload_blob(data, overwrite=True)

    with ThreadPoolExecutor(transfers) as pool:
        list(pool.map(copy, keys))
    print(len(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
