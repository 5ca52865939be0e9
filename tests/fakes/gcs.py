"""A fake of the Cloud Storage JSON API for failure paths the emulator cannot produce:
it answers object reads with queued statuses (401, 503...) before a real answer, and
records the upload requests (e.g. the kmsKeyName of a CMEK upload)."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

REASONS = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class FakeGCS(FakeGoogleAPI):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []  # answered, in order, before objects are served
        self.objects: dict[str, dict[str, Any]] = {}

    def _queued(self) -> tuple[int, Any] | None:
        if self.statuses:
            status = self.statuses.pop(0)
            return google_error(status, f"fake status {status}", REASONS.get(status, "ERROR"))
        return None

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)")
    def get_bucket(self, req: Request) -> tuple[int, Any]:
        # google-cloud-storage fetches bucket metadata in the background after some calls
        return 200, {"kind": "storage#bucket", "name": req.params["bucket"], "location": "US"}

    @route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)")
    def get_object(self, req: Request) -> tuple[int, Any]:
        queued = self._queued()
        if queued:
            return queued
        obj = self.objects.get(req.params["name"])
        if obj is None:
            return google_error(404, "No such object", "NOT_FOUND")
        return 200, obj

    @route("POST", r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o")
    def insert(self, req: Request) -> tuple[int, Any]:
        queued = self._queued()
        if queued:
            return queued
        assert req.arg("uploadType") == "multipart", req.query
        # multipart/related: the first part is the object resource as JSON
        head = req.body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
        resource = json.loads(head)
        name = resource["name"]
        obj = {
            "kind": "storage#object",
            "bucket": req.params["bucket"],
            "name": name,
            "generation": "1",
            "size": "0",
            "metadata": resource.get("metadata", {}),
            "kmsKeyName": req.arg("kmsKeyName"),
        }
        self.objects[name] = obj
        return 200, obj
