"""A fake Compute Engine REST API (v1): instances, zone/global operations, firewalls.

Bodies follow the documented JSON (camelCase, `networkIP`, `natIP`, `IPProtocol`).
An inserted instance is PROVISIONING, then STAGING, then RUNNING on successive GETs, so
callers must poll. Operations are RUNNING when returned and DONE when waited on or read.
Instance lists honour `labels.KEY = "VALUE"` filters and are served in pages of
`page_size` linked by nextPageToken. As the API reference asks (ListInstancesRequest.filter
in the vendored compute proto), several expressions must each be in parentheses,
`(labels.a = "1") (labels.b = "2")`, optionally joined by an explicit AND; several
expressions without them are answered 400 "Invalid list filter expression", as Compute
Engine does. Routes name the RPCs of google/cloud/compute/v1 they serve.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

BASE = r"/compute/v1/projects/(?P<project>[^/]+)"
ZONE = BASE + r"/zones/(?P<zone>[^/]+)"
_CLAUSE = re.compile(r'^labels\.([a-z0-9_\-]+) = "([^"]*)"$')
_PAREN = re.compile(r'\(\s*(labels\.[a-z0-9_\-]+ = "[^"]*")\s*\)')
RPC = "google.cloud.compute.v1."


def parse_filter(text: str) -> dict[str, str] | None:
    """label → value of a documented filter; None when the expression is malformed."""
    text = text.strip()
    if not text:
        return {}
    single = _CLAUSE.match(text)
    if single:  # one expression needs no parentheses
        return {single.group(1): single.group(2)}
    wanted: dict[str, str] = {}
    rest = text
    while rest:
        m = _PAREN.match(rest)
        if not m:
            return None
        clause = _CLAUSE.match(m.group(1))
        assert clause is not None
        wanted[clause.group(1)] = clause.group(2)
        rest = rest[m.end() :].lstrip()
        if rest.startswith("AND "):
            rest = rest[4:].lstrip()
    return wanted


LIFECYCLE = ["PROVISIONING", "STAGING", "RUNNING"]


class FakeCompute(FakeGoogleAPI):
    def __init__(self, project: str, page_size: int = 2) -> None:
        super().__init__()
        self.project = project
        self.page_size = page_size
        self.instances: dict[str, dict[str, Any]] = {}
        self.firewalls: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.fail_next_insert: str | None = None  # an error message for the next operation
        self._ids = itertools.count(1000)

    def link(self, path: str) -> str:
        return f"https://www.googleapis.com/compute/v1/projects/{self.project}/{path}"

    def _operation(self, kind: str, target: str, zone: str | None) -> dict[str, Any]:
        name = f"operation-{next(self._ids)}"
        op: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "operationType": kind,
            "status": "RUNNING",
            "targetLink": target,
            "selfLink": self.link(
                f"zones/{zone}/operations/{name}" if zone else f"global/operations/{name}"
            ),
        }
        if zone:
            op["zone"] = self.link(f"zones/{zone}")
        if self.fail_next_insert and kind == "insert":
            op["error"] = {"errors": [{"code": "QUOTA_EXCEEDED", "message": self.fail_next_insert}]}
            self.fail_next_insert = None
        self.operations[name] = op
        return op

    def _done(self, req: Request) -> tuple[int, Any]:
        assert req.params["project"] == self.project
        op = self.operations.get(req.params["op"])
        if op is None:
            return google_error(404, "operation not found", "NOT_FOUND")
        op["status"] = "DONE"
        return 200, op

    # -- instances ---------------------------------------------------------------------
    @route("POST", ZONE + r"/instances", rpc=RPC + "Instances.Insert")
    def insert(self, req: Request) -> tuple[int, Any]:
        body = req.json
        zone = req.params["zone"]
        name = body["name"]
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name), name
        assert body["machineType"].startswith(f"zones/{zone}/machineTypes/"), body
        disk = body["disks"][0]
        assert disk["boot"] and disk["initializeParams"]["sourceImage"], disk
        assert body["networkInterfaces"][0]["accessConfigs"][0]["type"] == "ONE_TO_ONE_NAT"
        for key, value in body.get("labels", {}).items():
            assert re.fullmatch(r"[a-z0-9_\-]{1,63}", key) and len(value) <= 63, (key, value)
        if name in self.instances:
            return google_error(409, f"The resource '{name}' already exists", "ALREADY_EXISTS")
        n = len(self.instances) + 2
        self.instances[name] = {
            **body,
            "kind": "compute#instance",
            "id": str(next(self._ids)),
            "zone": self.link(f"zones/{zone}"),
            "machineType": self.link(body["machineType"]),
            "status": "PROVISIONING",
            "creationTimestamp": "2024-05-01T10:00:00.000-07:00",
            "networkInterfaces": [
                {
                    **body["networkInterfaces"][0],
                    "networkIP": f"10.128.0.{n}",
                    "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "natIP": f"34.1.2.{n}"}],
                }
            ],
        }
        return 200, self._operation("insert", self.link(f"zones/{zone}/instances/{name}"), zone)

    @route("GET", ZONE + r"/instances/(?P<name>[^/]+)", rpc=RPC + "Instances.Get")
    def get(self, req: Request) -> tuple[int, Any]:
        inst = self.instances.get(req.params["name"])
        if inst is None:
            return google_error(
                404, f"The resource '{req.params['name']}' was not found", "NOT_FOUND"
            )
        if inst["status"] in LIFECYCLE[:-1]:
            inst["status"] = LIFECYCLE[LIFECYCLE.index(inst["status"]) + 1]
        return 200, inst

    @route("GET", ZONE + r"/instances", rpc=RPC + "Instances.List")
    def list(self, req: Request) -> tuple[int, Any]:
        text = req.arg("filter") or ""
        parsed = parse_filter(text)
        if parsed is None:
            return self.refuse(
                req,
                400,
                f"Invalid value for field 'filter': '{text}'. Invalid list filter expression.",
                "INVALID_ARGUMENT",
            )
        wanted = parsed
        found = [
            i
            for i in self.instances.values()
            if all(i.get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        start = int(req.arg("pageToken") or 0)
        answer: dict[str, Any] = {
            "kind": "compute#instanceList",
            "items": found[start : start + self.page_size],
        }
        if start + self.page_size < len(found):
            answer["nextPageToken"] = str(start + self.page_size)
        return 200, answer

    @route("DELETE", ZONE + r"/instances/(?P<name>[^/]+)", rpc=RPC + "Instances.Delete")
    def delete(self, req: Request) -> tuple[int, Any]:
        name = req.params["name"]
        if self.instances.pop(name, None) is None:
            return google_error(404, f"The resource '{name}' was not found", "NOT_FOUND")
        zone = req.params["zone"]
        return 200, self._operation("delete", self.link(f"zones/{zone}/instances/{name}"), zone)

    @route(
        "GET",
        ZONE + r"/instances/(?P<name>[^/]+)/serialPort",
        rpc=RPC + "Instances.GetSerialPortOutput",
    )
    def serial(self, req: Request) -> tuple[int, Any]:
        if req.params["name"] not in self.instances:
            return google_error(404, "not found", "NOT_FOUND")
        return 200, {
            "kind": "compute#serialPortOutput",
            "contents": "startup-script: done\n",
            "start": "0",
            "next": "21",
        }

    # -- operations --------------------------------------------------------------------
    @route("POST", ZONE + r"/operations/(?P<op>[^/]+)/wait", rpc=RPC + "ZoneOperations.Wait")
    def wait_zone(self, req: Request) -> tuple[int, Any]:
        return self._done(req)

    @route("GET", ZONE + r"/operations/(?P<op>[^/]+)", rpc=RPC + "ZoneOperations.Get")
    def get_zone_op(self, req: Request) -> tuple[int, Any]:
        return self._done(req)

    @route(
        "POST", BASE + r"/global/operations/(?P<op>[^/]+)/wait", rpc=RPC + "GlobalOperations.Wait"
    )
    def wait_global(self, req: Request) -> tuple[int, Any]:
        return self._done(req)

    # -- firewalls ---------------------------------------------------------------------
    @route("POST", BASE + r"/global/firewalls", rpc=RPC + "Firewalls.Insert")
    def insert_firewall(self, req: Request) -> tuple[int, Any]:
        body = req.json
        assert body["allowed"][0]["IPProtocol"] == "tcp", body
        assert body["targetTags"] and body["direction"] == "INGRESS", body
        if body["name"] in self.firewalls:
            return google_error(
                409, f"The resource '{body['name']}' already exists", "ALREADY_EXISTS"
            )
        self.firewalls[body["name"]] = body
        return 200, self._operation("insert", self.link(f"global/firewalls/{body['name']}"), None)
