"""A fake Cloud Storage JSON API that keeps object generations (the emulator keeps only the
live one): enough of it for the storage contract's versions tests on GCS.

Shaped after the JSON API reference (cloud.google.com/storage/docs/json_api/v1):
  POST  /storage/v1/b?project=P                 buckets.insert (versioning.enabled)
  GET   /storage/v1/b/B                         buckets.get
  PATCH /storage/v1/b/B                         buckets.patch (versioning.enabled)
  POST  /upload/storage/v1/b/B/o?uploadType=multipart   objects.insert
  GET   /storage/v1/b/B/o/NAME[?generation=G]   objects.get (alt=media: the bytes)
  GET   /storage/v1/b/B/o?prefix=&versions=true objects.list
An overwrite in a versioned bucket leaves the earlier generation noncurrent, with
timeDeleted set; without versioning it is gone. Objects list in name order, each name's
generations oldest first, as the service lists them.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import google_crc32c

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeVersionedGCS(FakeGoogleAPI):
    def __init__(self) -> None:
        super().__init__()
        self.buckets: dict[str, dict[str, Any]] = {}
        #: (bucket, name) -> generations, oldest first: (resource, bytes)
        self.objects: dict[tuple[str, str], list[tuple[dict[str, Any], bytes]]] = {}
        self._clock = itertools.count(1)

    def _now(self) -> datetime:
        return _EPOCH + timedelta(seconds=next(self._clock))

    def _bucket(self, name: str) -> dict[str, Any]:
        return {
            "kind": "storage#bucket",
            "name": name,
            "location": "US",
            "versioning": {"enabled": self.buckets[name]["versioning"]},
        }

    # -- buckets -------------------------------------------------------------------------
    @route("POST", r"/storage/v1/b")
    def insert_bucket(self, req: Request) -> tuple[int, Any]:
        body = req.json
        name = body["name"]
        if name in self.buckets:
            return google_error(
                409,
                "Your previous request to create the bucket succeeded and you already own it.",
                "ALREADY_EXISTS",
            )
        self.buckets[name] = {"versioning": bool(body.get("versioning", {}).get("enabled"))}
        return 200, self._bucket(name)

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)")
    def get_bucket(self, req: Request) -> tuple[int, Any]:
        if req.params["bucket"] not in self.buckets:
            return google_error(404, "The specified bucket does not exist.", "NOT_FOUND")
        return 200, self._bucket(req.params["bucket"])

    @route("PATCH", r"/storage/v1/b/(?P<bucket>[^/]+)")
    def patch_bucket(self, req: Request) -> tuple[int, Any]:
        name = req.params["bucket"]
        if name not in self.buckets:
            return google_error(404, "The specified bucket does not exist.", "NOT_FOUND")
        if "versioning" in req.json:
            self.buckets[name]["versioning"] = bool(req.json["versioning"].get("enabled"))
        return 200, self._bucket(name)

    # -- objects -------------------------------------------------------------------------
    @route("POST", r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o")
    def insert(self, req: Request) -> tuple[int, Any]:
        bucket = req.params["bucket"]
        if bucket not in self.buckets:
            return google_error(404, "The specified bucket does not exist.", "NOT_FOUND")
        assert req.arg("uploadType") == "multipart", req.query
        boundary = req.headers["content-type"].split("boundary=", 1)[1].strip('"').encode()
        parts = [p for p in req.body.split(b"--" + boundary) if p.strip(b"-\r\n")]
        resource = json.loads(parts[0].split(b"\r\n\r\n", 1)[1])
        data = parts[1].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
        now = self._now()
        crc = google_crc32c.Checksum(data).digest()
        obj = {
            "kind": "storage#object",
            "bucket": bucket,
            "name": resource["name"],
            "generation": str(int(now.timestamp() * 1_000_000)),
            "metageneration": "1",
            "size": str(len(data)),
            "updated": _stamp(now),
            "timeCreated": _stamp(now),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "crc32c": base64.b64encode(crc).decode(),
            "etag": f"e{next(self._clock)}",
            "metadata": resource.get("metadata", {}),
        }
        history = self.objects.setdefault((bucket, resource["name"]), [])
        if self.buckets[bucket]["versioning"]:
            if history:
                history[-1][0]["timeDeleted"] = _stamp(now)  # the live one becomes noncurrent
        else:
            history.clear()
        history.append((obj, data))
        return 200, obj

    def _find(self, req: Request) -> tuple[dict[str, Any], bytes] | tuple[int, Any]:
        bucket, name = req.params["bucket"], unquote(req.params["name"])
        if bucket not in self.buckets:
            return google_error(404, "The specified bucket does not exist.", "NOT_FOUND")
        history = self.objects.get((bucket, name), [])
        wanted = req.arg("generation")
        for obj, data in reversed(history):
            if (wanted and obj["generation"] == wanted) or (
                not wanted and "timeDeleted" not in obj
            ):
                return obj, data
        return google_error(404, f"No such object: {bucket}/{name}", "NOT_FOUND")

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)")
    def get_object(self, req: Request) -> tuple[int, Any]:
        found = self._find(req)
        if isinstance(found[0], int):
            return found  # type: ignore[return-value]
        obj, data = found
        return (200, data) if req.arg("alt") == "media" else (200, obj)

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o")
    def list_objects(self, req: Request) -> tuple[int, Any]:
        bucket = req.params["bucket"]
        if bucket not in self.buckets:
            return google_error(404, "The specified bucket does not exist.", "NOT_FOUND")
        prefix = req.arg("prefix") or ""
        versions = (req.arg("versions") or "").lower() == "true"  # the SDK sends True
        items = [
            obj
            for (b, name), history in sorted(self.objects.items())
            if b == bucket and name.startswith(prefix)
            for obj, _ in history
            if versions or "timeDeleted" not in obj
        ]
        return 200, {"kind": "storage#objects", "items": items}
