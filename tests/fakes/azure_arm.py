"""Fake Azure Resource Manager: resources under resource groups, with long-running operations.

Shaped like the documented REST API:
- PUT  /subscriptions/S/resourceGroups/G/providers/NS/TYPE/NAME?api-version=V answers 201
  with the resource (provisioningState "Creating"/"Updating") and an Azure-AsyncOperation
  header; GETs of that operation answer {"status": "InProgress"} once, then "Succeeded".
- DELETE answers 202 with a Location header; GETs of it answer 202 once, then 200 and the
  resource is gone. Deleting a missing resource answers 204, as ARM does.
- GET a resource (404 ResourceNotFound when missing), GET a collection ({"value": [...]}).
The fake refuses what Azure refuses: a NIC pointing at a missing subnet, public IP or NSG;
a VM pointing at a missing NIC; deleting a NIC still attached to a VM, or a piece a NIC
still uses. VMs report PowerState/starting once, then PowerState/running.
"""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any

from tests.fakes.azure_https import FakeAzureServer, Request, Response, error_body

# a resource: NS/TYPE/NAME, or a child such as Microsoft.Sql/servers/S/databases/D
_RES = (
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"(?P<ns>Microsoft\.\w+)/(?P<parent>(?:\w+/[^/]+/)*)(?P<type>\w+)/(?P<name>[^/]+)"
)
# a collection: the same path without the last name
_COLLECTION = (
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"(?P<ns>Microsoft\.\w+)/(?P<parent>(?:\w+/[^/]+/)*)(?P<type>\w+)"
)
_OPERATION = (
    r"/subscriptions/[^/]+/providers/Microsoft\.\w+/locations/[^/]+/"
    r"(?P<kind>operations|operationResults)/(?P<op>[^/]+)"
)


class FakeResourceManager:
    """State and handlers; `install` adds the routes to a FakeAzureServer."""

    def __init__(self, server: FakeAzureServer) -> None:
        self.server = server
        self.resources: dict[str, dict[str, Any]] = {}  # lower-case id → resource
        self.operations: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._ips = itertools.count(10)
        #: VM name → serial console log URL that retrieveBootDiagnosticsData hands out
        self.boot_logs: dict[str, str] = {}
        server.route("POST", _RES + r"/retrieveBootDiagnosticsData")(self.boot_diagnostics)
        server.route("GET", _OPERATION)(self.poll)
        server.route("PUT", _RES)(self.put)
        server.route("GET", _COLLECTION)(self.list)  # tried first: collections end in a type
        server.route("GET", _RES)(self.get)
        server.route("DELETE", _RES)(self.delete)

    # ------------------------------------------------------------------ helpers
    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources.values() if r["type"].lower() == type_.lower()]

    def _exists(self, rid: str) -> bool:
        return rid.lower() in self.resources

    def _op_url(self, req: Request, ns: str, location: str, kind: str) -> tuple[str, str]:
        op = f"op-{next(self._ids)}"
        sub = req.match["sub"] if req.match else "sub"
        self.operations[op] = {"polls": 0}
        return (
            f"{self.server.url}/subscriptions/{sub}/providers/{ns}/locations/{location}/"
            f"{kind}/{op}?api-version={req.query['api-version']}"
        ), op

    # ------------------------------------------------------------------ handlers
    def put(self, req: Request) -> Response:
        assert req.match is not None
        assert req.query.get("api-version"), "api-version missing"
        body = req.json()
        ns, type_, name = req.match["ns"], req.match["type"], req.match["name"]
        rid = req.path
        assert body.get("location"), f"{type_}: location missing"
        props = dict(body.get("properties") or {})
        problem = self._validate(type_, props, rid)
        if problem:
            return 400, {}, error_body(*problem)
        parent = req.match["parent"]
        if parent and not self._exists(rid.rsplit("/", 2)[0]):
            return 404, {}, error_body("ParentResourceNotFound", f"parent of {name} not found")
        parent_types = "/".join(parent.strip("/").split("/")[::2])
        resource = {
            "id": rid,
            "name": name,
            "type": "/".join(p for p in (ns, parent_types, type_) if p),
            "location": body["location"],
            "tags": body.get("tags") or {},
            "properties": {**props, "provisioningState": "Creating"},
        }
        if "sku" in body:
            resource["sku"] = body["sku"]
        self._fill(type_, resource)
        created = not self._exists(rid)
        self.resources[rid.lower()] = resource
        url, op = self._op_url(req, ns, body["location"], "operations")
        self.operations[op].update(resource=rid.lower(), state="Succeeded")
        headers = {"Azure-AsyncOperation": url, "Retry-After": "0"}
        return (201 if created else 200), headers, resource

    def _validate(self, type_: str, props: dict[str, Any], rid: str) -> tuple[str, str] | None:
        t = type_.lower()
        if t == "networkinterfaces":
            for config in props.get("ipConfigurations", []):
                cp = config.get("properties", {})
                subnet = cp.get("subnet", {}).get("id", "")
                vnet_id = subnet.split("/subnets/")[0]
                if not self._exists(vnet_id):
                    return "InvalidResourceReference", f"subnet {subnet} not found"
                ip = cp.get("publicIPAddress", {}).get("id")
                if ip and not self._exists(ip):
                    return "InvalidResourceReference", f"public IP {ip} not found"
            nsg = props.get("networkSecurityGroup", {}).get("id")
            if nsg and not self._exists(nsg):
                return "InvalidResourceReference", f"NSG {nsg} not found"
        if t == "virtualmachines":
            assert props["hardwareProfile"]["vmSize"], "vmSize missing"
            image = props["storageProfile"]["imageReference"]
            assert image.get("id") or {"publisher", "offer", "sku", "version"} <= set(image)
            osp = props["osProfile"]
            assert osp["adminUsername"] and osp["computerName"]
            keys = osp["linuxConfiguration"]["ssh"]["publicKeys"]
            assert keys and keys[0]["keyData"].startswith("ssh-rsa "), "ssh key missing"
            if "customData" in osp:
                base64.b64decode(osp["customData"], validate=True)
            for nic in props["networkProfile"]["networkInterfaces"]:
                if not self._exists(nic["id"]):
                    return "NotFound", f"network interface {nic['id']} not found"
        if t == "networksecuritygroups":
            for rule in props.get("securityRules", []):
                rp = rule["properties"]
                assert rp["direction"] in ("Inbound", "Outbound") and 100 <= rp["priority"] <= 4096
        return None

    def _fill(self, type_: str, resource: dict[str, Any]) -> None:
        """Read-only fields Azure computes."""
        t, props, rid = type_.lower(), resource["properties"], resource["id"]
        if t == "virtualnetworks":
            for subnet in props.get("subnets", []):
                subnet["id"] = f"{rid}/subnets/{subnet['name']}"
        if t == "publicipaddresses":
            props["ipAddress"] = f"203.0.113.{next(self._ips)}"
        if t == "servers" and resource["type"] == "Microsoft.Sql/servers":
            assert props.get("administratorLogin") and props.get("administratorLoginPassword")
            props.pop("administratorLoginPassword")  # write-only: never returned
            props["fullyQualifiedDomainName"] = f"{resource['name']}.database.windows.net"
            props["state"] = "Ready"
        if t == "databases":
            props["status"] = "Online"
        if t == "virtualmachines":
            props["vmId"] = f"vm-{next(self._ids)}"
            resource["_power_polls"] = 0

    def boot_diagnostics(self, req: Request) -> Response:
        assert req.match is not None
        assert req.query.get("sasUriExpirationTimeInMinutes"), "SAS expiry not asked for"
        vm = self.resources.get(req.path.rsplit("/", 1)[0].lower())
        if vm is None:
            return 404, {}, error_body("ResourceNotFound", "no such VM")
        profile = vm["properties"].get("diagnosticsProfile", {}).get("bootDiagnostics", {})
        if not profile.get("enabled") or req.match["name"] not in self.boot_logs:
            return 409, {}, error_body("BootDiagnosticsNotEnabled", "boot diagnostics are off")
        url = self.boot_logs[req.match["name"]]
        return 200, {}, {"consoleScreenshotBlobUri": url, "serialConsoleLogBlobUri": url}

    def poll(self, req: Request) -> Response:
        assert req.match is not None
        op = self.operations.get(req.match["op"])
        if op is None:
            return 404, {}, error_body("NotFound", "operation")
        op["polls"] += 1
        if req.match["kind"] == "operations":  # Azure-AsyncOperation
            if op["polls"] < 2:
                return 200, {"Retry-After": "0"}, {"status": "InProgress"}
            resource = self.resources.get(op["resource"])
            if resource:
                resource["properties"]["provisioningState"] = "Succeeded"
            return 200, {}, {"status": op["state"]}
        if op["polls"] < 2:  # Location polling of a delete
            return 202, {"Retry-After": "0"}, None
        self.resources.pop(op["resource"], None)
        for child in [r for r in self.resources if r.startswith(op["resource"] + "/")]:
            del self.resources[child]  # children (a server's databases) go with their parent
        return 200, {}, None

    def get(self, req: Request) -> Response:
        assert req.match is not None
        assert req.query.get("api-version"), "api-version missing"
        resource = self.resources.get(req.path.lower())
        if resource is None:
            code = "ResourceNotFound"
            return 404, {}, error_body(code, f"The Resource '{req.match['name']}' was not found")
        return 200, {}, self._view(resource, req.query.get("$expand") == "instanceView")

    def _view(self, resource: dict[str, Any], expand: bool) -> dict[str, Any]:
        out = {k: v for k, v in resource.items() if not k.startswith("_")}
        if resource["type"] == "Microsoft.Compute/virtualMachines" and expand:
            resource["_power_polls"] += 1
            power = "running" if resource["_power_polls"] > 1 else "starting"
            out["properties"] = {
                **resource["properties"],
                "instanceView": {
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "time": "2026-01-01T00:00:00+00:00",
                        },
                        {"code": f"PowerState/{power}"},
                    ]
                },
            }
        return out

    def list(self, req: Request) -> Response:
        assert req.match is not None
        prefix = req.path.lower() + "/"
        items = [
            self._view(r, req.query.get("$expand") == "instanceView")
            for rid, r in self.resources.items()
            if rid.startswith(prefix) and "/" not in rid[len(prefix) :]
        ]
        return 200, {}, {"value": items}

    def delete(self, req: Request) -> Response:
        assert req.match is not None
        assert req.query.get("api-version"), "api-version missing"
        rid = req.path.lower()
        resource = self.resources.get(rid)
        if resource is None:
            return 204, {}, None
        users = self._users_of(rid)
        if users:
            code = "InUseNetworkInterfaceCannotBeDeleted"
            return 400, {}, error_body(code, f"{req.match['name']} is used by {users[0]}")
        url, op = self._op_url(req, req.match["ns"], resource["location"], "operationResults")
        self.operations[op].update(resource=rid, state="Succeeded")
        resource["properties"]["provisioningState"] = "Deleting"
        return 202, {"Location": url, "Retry-After": "0"}, None

    def _users_of(self, rid: str) -> list[str]:
        users = []
        for other in self.resources.values():
            text = str(other["properties"]).lower()
            if other["id"].lower() != rid and re.search(re.escape(rid) + r"(['/])", text):
                users.append(other["id"])
        return users
