"""A tiny S3 ListObjectsV2 endpoint that fails on demand, to test retries through boto3.

moto cannot be told to throttle, so this answers `GET /<bucket>?list-type=2` itself:
first with the queued failures (status, S3 error code), then with a documented
ListBucketResult body. Every request is recorded for the test to assert on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LIST_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>{bucket}</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>
  <IsTruncated>false</IsTruncated>
  <Contents><Key>only.txt</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
  <ETag>"abc"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
</ListBucketResult>"""
ERROR_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>{code}</Code><Message>injected</Message><RequestId>r1</RequestId></Error>"""


PAGE_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>{bucket}</Name><Prefix></Prefix><KeyCount>{count}</KeyCount><MaxKeys>{max_keys}</MaxKeys>
  <IsTruncated>{truncated}</IsTruncated>{token}{contents}
</ListBucketResult>"""
ITEM = """<Contents><Key>{key}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
  <ETag>"{etag}"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>"""


class FaultyS3(ThreadingHTTPServer):
    """failures: (status, code) answered to the next requests; with `keys` set, a paged
    listing of those keys (`page_size` per page, the continuation token is the last key of
    the previous page, as opaque to the client as S3's); `fail_on_token`: failures are
    only answered to requests that carry a continuation token (a later page). `keys` may
    be changed between requests (the bucket changing while it is listed)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures: list[tuple[int, str]] = []
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.keys: list[str] | None = None
        self.page_size = 2
        self.fail_on_token = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FaultyS3

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.requests.append(("GET", parts.path, query))
        bucket = parts.path.strip("/")
        assert query.get("list-type") == ["2"], query  # boto3 sends ListObjectsV2
        assert "/" not in bucket  # path-style addressing
        token = (query.get("continuation-token") or [None])[0]
        fail_here = not self.server.fail_on_token or token is not None
        if self.server.failures and fail_here:
            status, code = self.server.failures.pop(0)
            body = ERROR_BODY.format(code=code).encode()
        elif self.server.keys is not None:
            status, body = 200, self._page(bucket, token).encode()
        else:
            status, body = 200, LIST_BODY.format(bucket=bucket).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _page(self, bucket: str, token: str | None) -> str:
        keys = sorted(self.server.keys or [])
        after = [k for k in keys if token is None or k > token]
        page, rest = after[: self.server.page_size], after[self.server.page_size :]
        contents = "".join(ITEM.format(key=k, etag="0" * 32) for k in page)
        next_token = (
            f"<NextContinuationToken>{page[-1]}</NextContinuationToken>" if rest and page else ""
        )
        return PAGE_BODY.format(
            bucket=bucket,
            count=len(page),
            max_keys=self.server.page_size,
            truncated="true" if rest else "false",
            token=next_token,
            contents=contents,
        )


@contextmanager
def faulty_s3() -> Iterator[FaultyS3]:
    server = FaultyS3()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
