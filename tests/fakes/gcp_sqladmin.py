"""A fake Cloud SQL Admin API v1: instances insert/get/list/delete and operations.get.

A new instance is PENDING_CREATE and becomes RUNNABLE after `ready_after` GETs; the root
password is kept (to assert it was sent) but never echoed back, as the real API does.
Routes name the RPCs of google/cloud/sql/v1 they serve; a data disk under the documented
minimum of 10 GB (Settings.data_disk_size_gb) is refused.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

P = r"/v1/projects/(?P<project>[^/]+)"
RPC = "google.cloud.sql.v1."
MIN_DISK_GB = 10


class FakeSQLAdmin(FakeGoogleAPI):
    def __init__(self, project: str, ready_after: int = 2) -> None:
        super().__init__()
        self.project = project
        self.ready_after = ready_after
        self.instances: dict[str, dict[str, Any]] = {}
        self.passwords: dict[str, str] = {}
        self.gets: dict[str, int] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def _op(self, kind: str, target: str) -> dict[str, Any]:
        name = f"op-{next(self._ids)}"
        op = {
            "kind": "sql#operation",
            "name": name,
            "operationType": kind,
            "status": "PENDING",
            "targetId": target,
            "targetProject": self.project,
        }
        self.operations[name] = op
        return op

    @route("POST", P + r"/instances", rpc=RPC + "SqlInstancesService.Insert")
    def insert(self, req: Request) -> tuple[int, Any]:
        body = req.json
        assert body["databaseVersion"] in {"POSTGRES_16", "MYSQL_8_0"}, body["databaseVersion"]
        assert body["settings"]["tier"] and body["region"], body
        disk = body["settings"].get("dataDiskSizeGb")
        if disk is not None and int(disk) < MIN_DISK_GB:
            return self.refuse(
                req,
                400,
                f"Invalid request: the data disk size minimum is {MIN_DISK_GB}GB (got {disk}).",
                "INVALID_ARGUMENT",
            )
        name = body["name"]
        if name in self.instances:
            return google_error(409, "The Cloud SQL instance already exists.", "ALREADY_EXISTS")
        self.passwords[name] = body.pop("rootPassword", "")
        self.instances[name] = {
            **body,
            "kind": "sql#instance",
            "state": "PENDING_CREATE",
            "project": self.project,
        }
        self.gets[name] = 0
        return 200, self._op("CREATE", name)

    @route("GET", P + r"/instances/(?P<name>[^/]+)", rpc=RPC + "SqlInstancesService.Get")
    def get(self, req: Request) -> tuple[int, Any]:
        inst = self.instances.get(req.params["name"])
        if inst is None:
            return google_error(404, "The Cloud SQL instance does not exist.", "NOT_FOUND")
        self.gets[inst["name"]] += 1
        if inst["state"] == "PENDING_CREATE" and self.gets[inst["name"]] > self.ready_after:
            inst["state"] = "RUNNABLE"
            inst["ipAddresses"] = [{"type": "PRIMARY", "ipAddress": "35.1.2.3"}]
        return 200, inst

    @route("GET", P + r"/instances", rpc=RPC + "SqlInstancesService.List")
    def list(self, req: Request) -> tuple[int, Any]:
        items = list(self.instances.values())
        start = int(req.arg("pageToken") or 0)
        answer: dict[str, Any] = {"items": items[start : start + 1]}
        if start + 1 < len(items):
            answer["nextPageToken"] = str(start + 1)
        return 200, answer

    @route("DELETE", P + r"/instances/(?P<name>[^/]+)", rpc=RPC + "SqlInstancesService.Delete")
    def delete(self, req: Request) -> tuple[int, Any]:
        if self.instances.pop(req.params["name"], None) is None:
            return google_error(404, "The Cloud SQL instance does not exist.", "NOT_FOUND")
        return 200, self._op("DELETE", req.params["name"])

    @route("GET", P + r"/operations/(?P<op>[^/]+)", rpc=RPC + "SqlOperationsService.Get")
    def get_operation(self, req: Request) -> tuple[int, Any]:
        op = self.operations.get(req.params["op"])
        if op is None:
            return google_error(404, "operation not found", "NOT_FOUND")
        op["status"] = "DONE"
        return 200, op
