"""Fake Azure Key Vault (secrets), served over https with Key Vault's challenge auth.

A request without a token gets 401 and `WWW-Authenticate: Bearer
authorization="https://login.microsoftonline.com/TENANT", resource="https://vault.azure.net"`,
as Key Vault answers; the SDK then asks its credential for a token for that resource and
sends the request again. Bodies follow the documented SecretBundle / SecretItem /
DeletedSecretBundle shapes (the vendored examples in tests/contracts/azure/keyvault);
soft delete finishes after one poll of /deletedsecrets/NAME. Routes name the operations
of secrets.json (7.5) they serve, so a secret name outside `^[0-9a-zA-Z-]+$` or a
maxresults outside 1-25 is refused with the documented error body before a handler runs.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from tests.fakes.azure_https import FakeAzureServer, Request, Response

TENANT = "72f988bf-0000-0000-0000-000000000000"
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
    'resource="https://vault.azure.net"'
)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class FakeKeyVault:
    def __init__(self, server: FakeAzureServer) -> None:
        self.server = server
        server.challenge = CHALLENGE
        # name → list of versions (oldest first), each {"version", "value", "created", "tags"}
        self.secrets: dict[str, list[dict[str, Any]]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self._clock = itertools.count(int(time.time()))
        r = server.route
        r("PUT", r"/secrets/(?P<name>[^/]+)", "SetSecret")(self.set)
        r("GET", r"/secrets", "GetSecrets")(self.list)
        r("GET", r"/secrets/(?P<name>[^/]+)/versions", "GetSecretVersions")(self.versions)
        r("GET", r"/secrets/(?P<name>[^/]+)/(?P<version>[^/]*)", "GetSecret")(self.get)
        r("DELETE", r"/secrets/(?P<name>[^/]+)", "DeleteSecret")(self.delete)
        r("GET", r"/deletedsecrets/(?P<name>[^/]+)", "GetDeletedSecret")(self.get_deleted)
        r("DELETE", r"/deletedsecrets/(?P<name>[^/]+)", "PurgeDeletedSecret")(self.purge)

    def _check(self, req: Request) -> None:
        assert req.query.get("api-version"), "api-version missing"

    def _bundle(self, name: str, v: dict[str, Any], with_value: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f"{self.server.url}/secrets/{name}/{v['version']}",
            "attributes": {
                "enabled": True,
                "created": v["created"],
                "updated": v["created"],
                "recoveryLevel": "Recoverable+Purgeable",
            },
            "tags": v["tags"],
        }
        if with_value:
            out["value"] = v["value"]
        return out

    def set(self, req: Request) -> Response:
        self._check(req)
        assert req.match is not None
        body = req.json()
        assert isinstance(body.get("value"), str), "value missing"
        name = req.match["name"]
        if name in self.deleted:
            return 409, {}, _error("Conflict", f"Secret {name} is deleted but recoverable")
        version = {
            "version": uuid.uuid4().hex,
            "value": body["value"],
            "created": next(self._clock),
            "tags": body.get("tags") or {},
        }
        self.secrets.setdefault(name, []).append(version)
        return 200, {}, self._bundle(name, version)

    def get(self, req: Request) -> Response:
        self._check(req)
        assert req.match is not None
        name, wanted = req.match["name"], req.match["version"]
        versions = self.secrets.get(name)
        if not versions:
            return (
                404,
                {},
                _error("SecretNotFound", f"A secret with name {name} was not found"),
            )
        match = (
            versions[-1]
            if not wanted
            else next((v for v in versions if v["version"] == wanted), None)
        )
        if match is None:
            return 404, {}, _error("SecretNotFound", f"version {wanted} of {name} was not found")
        return 200, {}, self._bundle(name, match)

    def list(self, req: Request) -> Response:
        self._check(req)
        items = []
        for name, versions in sorted(self.secrets.items()):
            item = self._bundle(name, versions[-1], with_value=False)  # items carry no value
            item["id"] = f"{self.server.url}/secrets/{name}"
            items.append(item)
        return 200, {}, {"value": items, "nextLink": None}

    def versions(self, req: Request) -> Response:
        self._check(req)
        assert req.match is not None
        name = req.match["name"]
        versions = self.secrets.get(name, [])
        return (
            200,
            {},
            {
                "value": [self._bundle(name, v, with_value=False) for v in versions],
                "nextLink": None,
            },
        )

    def delete(self, req: Request) -> Response:
        self._check(req)
        assert req.match is not None
        name = req.match["name"]
        versions = self.secrets.pop(name, None)
        if not versions:
            return (
                404,
                {},
                _error("SecretNotFound", f"A secret with name {name} was not found"),
            )
        bundle = self._bundle(name, versions[-1], with_value=False)
        bundle.update(
            recoveryId=f"{self.server.url}/deletedsecrets/{name}",
            deletedDate=next(self._clock),
            scheduledPurgeDate=next(self._clock) + 90 * 86400,
        )
        self.deleted[name] = {"bundle": bundle, "polls": 0}
        return 200, {}, bundle

    def get_deleted(self, req: Request) -> Response:
        self._check(req)
        assert req.match is not None
        entry = self.deleted.get(req.match["name"])
        if entry is None:
            return 404, {}, _error("SecretNotFound", "not deleted")
        entry["polls"] += 1
        if entry["polls"] < 2:  # the deletion is still in progress on the first poll
            return 404, {}, _error("SecretNotFound", "deleting")
        return 200, {}, entry["bundle"]

    def purge(self, req: Request) -> Response:
        self._check(req)
        assert req.match is not None
        if self.deleted.pop(req.match["name"], None) is None:
            return 404, {}, _error("SecretNotFound", "not deleted")
        return 204, {}, None
