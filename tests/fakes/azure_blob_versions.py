"""Fake Blob service for what Azurite lacks: blob versioning and encryption scopes.

Serves one account over https: Put Blob (records x-ms-encryption-scope and answers
x-ms-version-id, as an account with versioning does), List Blobs with
`include=versions,metadata` (EnumerationResults XML with VersionId / IsCurrentVersion),
Get Blob / Get Blob Properties by `versionid` (range GETs answer 206 with Content-Range). Shared-key
signatures are not checked here; Azurite covers them.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from tests.fakes.azure_https import FakeAzureServer, Request, Response

ACCOUNT = "versioned"
KEY = base64.b64encode(b"fake-account-key" * 4).decode()


class FakeVersionedBlobs:
    def __init__(self, server: FakeAzureServer) -> None:
        server.require_token = False  # shared key auth
        self.server = server
        # (container, name) → versions, oldest first
        self.blobs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._clock = itertools.count()
        server.route("PUT", rf"/{ACCOUNT}/(?P<c>[a-z0-9-]+)/(?P<name>.+)")(self.put)
        server.route("GET", rf"/{ACCOUNT}/(?P<c>[a-z0-9-]+)")(self.list)
        server.route("GET", rf"/{ACCOUNT}/(?P<c>[a-z0-9-]+)/(?P<name>.+)")(self.get)
        server.route("HEAD", rf"/{ACCOUNT}/(?P<c>[a-z0-9-]+)/(?P<name>.+)")(self.head)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.server.url}/{ACCOUNT};"
        )

    def put(self, req: Request) -> Response:
        assert req.match is not None
        assert req.headers.get("x-ms-blob-type") == "BlockBlob", "only block blobs here"
        assert req.headers.get("authorization", "").startswith(f"SharedKey {ACCOUNT}:")
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._clock))
        version = {
            "id": when.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "data": req.body,
            "when": when,
            "metadata": {
                k[len("x-ms-meta-") :]: v
                for k, v in req.headers.items()
                if k.startswith("x-ms-meta-")
            },
            "scope": req.headers.get("x-ms-encryption-scope"),
            "md5": req.headers.get("x-ms-blob-content-md5"),
        }
        self.blobs.setdefault((req.match["c"], req.match["name"]), []).append(version)
        headers = {
            "ETag": f'"0x{len(self.blobs):X}{next(self._clock)}"',
            "Last-Modified": format_datetime(when, usegmt=True),
            "x-ms-version-id": version["id"],
            "x-ms-request-server-encrypted": "true",
            "Content-MD5": base64.b64encode(hashlib.md5(req.body).digest()).decode(),
        }
        if version["scope"]:
            headers["x-ms-encryption-scope"] = version["scope"]
        return 201, headers, b""

    def list(self, req: Request) -> Response:
        assert req.match is not None
        assert req.query.get("restype") == "container" and req.query.get("comp") == "list"
        include = set((req.query.get("include") or "").split(","))
        prefix = req.query.get("prefix", "")
        entries = []
        for (container, name), versions in sorted(self.blobs.items()):
            if container != req.match["c"] or not name.startswith(prefix):
                continue
            shown = versions if "versions" in include else versions[-1:]
            for v in shown:
                latest = v is versions[-1]
                meta = "".join(f"<{k}>{escape(val)}</{k}>" for k, val in v["metadata"].items())
                entries.append(
                    f"<Blob><Name>{escape(name)}</Name>"
                    + (f"<VersionId>{v['id']}</VersionId>" if "versions" in include else "")
                    + (
                        "<IsCurrentVersion>true</IsCurrentVersion>"
                        if latest and "versions" in include
                        else ""
                    )
                    + "<Properties>"
                    f"<Last-Modified>{format_datetime(v['when'], usegmt=True)}</Last-Modified>"
                    f"<Etag>0x{abs(hash(v['id'])):X}</Etag>"
                    f"<Content-Length>{len(v['data'])}</Content-Length>"
                    "<Content-Type>application/octet-stream</Content-Type>"
                    "<BlobType>BlockBlob</BlobType>"
                    "</Properties>"
                    + (f"<Metadata>{meta}</Metadata>" if "metadata" in include else "")
                    + "</Blob>"
                )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="{self.server.url}/{ACCOUNT}/" '
            f'ContainerName="{req.match["c"]}"><Prefix>{escape(prefix)}</Prefix>'
            f"<Blobs>{''.join(entries)}</Blobs><NextMarker /></EnumerationResults>"
        )
        return 200, {"Content-Type": "application/xml"}, xml.encode()

    def head(self, req: Request) -> Response:
        """Get Blob Properties: the GET headers, the full size, no body."""
        status, headers, data = self.get(req)
        if status == 200:
            headers["Content-Length"] = str(len(data))
        return status, headers, b""

    def get(self, req: Request) -> Response:
        assert req.match is not None
        versions = self.blobs.get((req.match["c"], req.match["name"]))
        wanted = req.query.get("versionid")
        v = None
        if versions:
            v = (
                versions[-1]
                if not wanted
                else next((x for x in versions if x["id"] == wanted), None)
            )
        if v is None:
            body = (
                b'<?xml version="1.0" encoding="utf-8"?>'
                b"<Error><Code>BlobNotFound</Code><Message>no such blob</Message></Error>"
            )
            return 404, {"Content-Type": "application/xml", "x-ms-error-code": "BlobNotFound"}, body
        data: bytes = v["data"]
        headers = {
            "Content-Type": "application/octet-stream",
            "Last-Modified": format_datetime(v["when"], usegmt=True),
            "ETag": f'"0x{abs(hash(v["id"])):X}"',
            "x-ms-blob-type": "BlockBlob",
            "x-ms-version-id": v["id"],
            **{f"x-ms-meta-{k}": val for k, val in v["metadata"].items()},
        }
        if v["md5"]:
            headers["Content-MD5"] = v["md5"]
        status = 200
        rng = req.headers.get("x-ms-range") or req.headers.get("range")
        if rng:
            start, _, end = rng.removeprefix("bytes=").partition("-")
            lo, hi = int(start), min(int(end or len(data) - 1), len(data) - 1)
            headers["Content-Range"] = f"bytes {lo}-{hi}/{len(data)}"
            data, status = data[lo : hi + 1], 206
        return status, headers, data
