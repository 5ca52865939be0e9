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

Every route names the azure-rest-api-specs operations it serves (tests/contracts/azure/
operations.json): a path no listed operation has is answered 404 and recorded as an
error, and a missing api-version is refused as ARM refuses it. Per the contract,
VirtualMachines_List refuses `$expand=instanceView` without a `$filter`; the run-time
state comes from VirtualMachines_InstanceView (or Get with `$expand=instanceView`),
answered in the shape of the published example (VirtualMachine_Get_InstanceView.json).
SQL databases refuse a max size above the tier's documented maximum (azure/sql).
The specs document the error shape (CloudError / ErrorResponse: {"error": {"code",
"message"}}), not each code: the codes of these refusals (InvalidParameter,
InvalidMaxSizeTierCombination) are the fake's choice, the shape is the contract's.
"""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any

from tests.contracts.spec import azure_operations, constraints, example_response
from tests.fakes.azure_https import FakeAzureServer, Request, Response, error_body

INSTANCE_VIEW_EXAMPLE = "azure/compute/examples/VirtualMachine_Get_InstanceView.json"
SQL_LIMITS = constraints("azure/sql")


def _ops(suffix: str) -> tuple[str, ...]:
    """The ARM resource operations (compute, network, sql) whose id ends with suffix."""
    return tuple(
        op
        for op, spec in azure_operations().items()
        if spec.service in {"compute", "network", "sql"} and op.endswith(suffix)
    )


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
        self._pending_sku: dict[str, Any] = {}
        #: VM name → serial console log URL that retrieveBootDiagnosticsData hands out
        self.boot_logs: dict[str, str] = {}
        route = server.route
        route(
            "POST",
            _RES + r"/retrieveBootDiagnosticsData",
            "VirtualMachines_RetrieveBootDiagnosticsData",
        )(self.boot_diagnostics)
        route("GET", _RES + r"/instanceView", "VirtualMachines_InstanceView")(self.instance_view)
        route("GET", _OPERATION, ("ARM_AsyncOperation", "ARM_OperationResult"))(self.poll)
        route("PUT", _RES, _ops("_CreateOrUpdate"))(self.put)
        # tried first: collections end in a type
        route(
            "GET",
            _COLLECTION,
            ("VirtualMachines_List", *_ops("_ListByResourceGroup"), *_ops("_ListByServer")),
        )(self.list)
        route("GET", _RES, _ops("_Get"))(self.get)
        route("DELETE", _RES, _ops("_Delete"))(self.delete)

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
        self._pending_sku = body.get("sku") or {}
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
        if t == "databases":
            problem = _sql_size_problem(props, self._pending_sku)
            if problem:
                return problem
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
        if t == "databases":  # shaped like CreateDatabaseDefaultMode.json's answer
            sku = resource.setdefault("sku", {"name": "S0"})
            tier = SQL_LIMITS["tier_of"].get(sku.get("name"), sku.get("tier"))
            sku.setdefault("tier", tier)
            resource["kind"] = "v12.0,user"
            limit = SQL_LIMITS["max_storage_gb"].get(sku["name"], 250)
            props.setdefault("maxSizeBytes", limit * 1024**3)
            props.setdefault("collation", "SQL_Latin1_General_CP1_CI_AS")
            props["status"] = "Online"
            props["currentServiceObjectiveName"] = sku["name"]
            props["requestedServiceObjectiveName"] = sku["name"]
            props["databaseId"] = f"00000000-0000-0000-0000-{next(self._ids):012d}"
        if t == "networkinterfaces":  # shaped like NetworkInterfaceCreate.json's answer
            for i, config in enumerate(props.get("ipConfigurations", [])):
                cp = config.setdefault("properties", {})
                config["id"] = f"{rid}/ipConfigurations/{config['name']}"
                cp.setdefault("privateIPAllocationMethod", "Dynamic")
                cp["privateIPAddress"] = f"10.42.0.{4 + i}"
                cp["provisioningState"] = "Succeeded"
                cp.setdefault("primary", i == 0)
                cp.setdefault("privateIPAddressVersion", "IPv4")
        if t == "publicipaddresses":  # PublicIpAddressCreateDefaults.json's defaults
            props.setdefault("publicIPAddressVersion", "IPv4")
            props.setdefault("publicIPAllocationMethod", "Dynamic")
            props.setdefault("idleTimeoutInMinutes", 4)
            resource.setdefault("sku", {"name": "Basic"})
        if t == "virtualmachines":  # VirtualMachine_Create_WithSshAuthentication.json
            props["vmId"] = f"e0de9b84-a506-4b95-9623-{next(self._ids):012d}"
            props.setdefault("osProfile", {}).setdefault("secrets", [])
            storage = props.setdefault("storageProfile", {})
            storage.setdefault("dataDisks", [])
            if "linuxConfiguration" in props["osProfile"]:
                storage.setdefault("osDisk", {}).setdefault("osType", "Linux")
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

    def _instance_view_body(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The published instance view example, with this VM's name and power state."""
        resource["_power_polls"] += 1
        power = "running" if resource["_power_polls"] > 1 else "starting"
        view: dict[str, Any] = example_response(INSTANCE_VIEW_EXAMPLE)
        view["computerName"] = resource["properties"].get("osProfile", {}).get("computerName")
        provisioning, _ = view["statuses"]
        view["statuses"] = [
            {**provisioning, "time": "2026-01-01T00:00:00.1234567+00:00"},
            {"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"},
        ]
        return view

    def instance_view(self, req: Request) -> Response:
        resource = self.resources.get(req.path.rsplit("/", 1)[0].lower())
        if resource is None:
            assert req.match is not None
            code = "ResourceNotFound"
            return 404, {}, error_body(code, f"The Resource '{req.match['name']}' was not found")
        return 200, {}, self._instance_view_body(resource)

    def _view(self, resource: dict[str, Any], expand: bool) -> dict[str, Any]:
        out = {k: v for k, v in resource.items() if not k.startswith("_")}
        if resource["type"] == "Microsoft.Compute/virtualMachines" and expand:
            out["properties"] = {
                **resource["properties"],
                "instanceView": self._instance_view_body(resource),
            }
        return out

    def list(self, req: Request) -> Response:
        assert req.match is not None
        if (
            req.op == "VirtualMachines_List"
            and "$expand" in req.query
            and not req.query.get("$filter")
        ):
            rule = azure_operations()["VirtualMachines_List"].extra["query_rules"]["$expand"]
            body = error_body("InvalidParameter", f"$expand=instanceView is refused: {rule}")
            self.server.refused.append((req, body))
            return 400, {}, body
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


def _sql_size_problem(props: dict[str, Any], sku: dict[str, Any]) -> tuple[str, str] | None:
    """A max size above what the tier documents (resource-limits-dtu-single-databases)."""
    name = sku.get("name") or "S0"
    size = props.get("maxSizeBytes")
    limit = SQL_LIMITS["max_storage_gb"].get(name)
    if size is None or limit is None or int(size) <= limit * 1024**3:
        return None
    return (
        "InvalidMaxSizeTierCombination",
        f"The service objective '{name}' does not support the database max size '{size}' "
        f"(at most {limit} GB).",
    )
