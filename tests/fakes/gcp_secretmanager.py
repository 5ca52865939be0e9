"""A fake Secret Manager API v1: secrets create/get/list/delete, versions add/access/list.

Payloads are base64 with a decimal `dataCrc32c`, checked on add as the service does.
Routes name the RPCs of google/cloud/secretmanager/v1/service.proto; the REQUIRED fields
(secretId, secret, payload) are checked before a handler runs.
"""

from __future__ import annotations

import base64
from typing import Any

import google_crc32c

from tests.fakes.gcp_http import FakeGoogleAPI, Request, google_error, route

P = r"/v1/projects/(?P<project>[^/]+)/secrets"
NOW = "2024-05-01T10:00:00.000000Z"
RPC = "google.cloud.secretmanager.v1.SecretManagerService."


class FakeSecretManager(FakeGoogleAPI):
    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project
        self.secrets: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, list[bytes]] = {}

    def _name(self, secret: str) -> str:
        return f"projects/{self.project}/secrets/{secret}"

    def _missing(self, secret: str) -> tuple[int, Any]:
        return google_error(404, f"Secret [{self._name(secret)}] not found.", "NOT_FOUND")

    @route("POST", P, rpc=RPC + "CreateSecret")
    def create(self, req: Request) -> tuple[int, Any]:
        secret_id = req.arg("secretId")
        assert secret_id, "secretId query parameter is required"
        assert "automatic" in req.json["replication"], req.json
        if secret_id in self.secrets:
            return google_error(409, "Secret already exists", "ALREADY_EXISTS")
        self.secrets[secret_id] = {**req.json, "name": self._name(secret_id), "createTime": NOW}
        self.versions[secret_id] = []
        return 200, self.secrets[secret_id]

    @route("GET", P + r"/(?P<secret>[^/:]+)", rpc=RPC + "GetSecret")
    def get(self, req: Request) -> tuple[int, Any]:
        secret = self.secrets.get(req.params["secret"])
        return (200, secret) if secret else self._missing(req.params["secret"])

    @route("GET", P, rpc=RPC + "ListSecrets")
    def list(self, req: Request) -> tuple[int, Any]:
        return 200, {"secrets": list(self.secrets.values()), "totalSize": len(self.secrets)}

    @route("DELETE", P + r"/(?P<secret>[^/:]+)", rpc=RPC + "DeleteSecret")
    def delete(self, req: Request) -> tuple[int, Any]:
        if self.secrets.pop(req.params["secret"], None) is None:
            return self._missing(req.params["secret"])
        self.versions.pop(req.params["secret"], None)
        return 200, {}

    @route("POST", P + r"/(?P<secret>[^/:]+):addVersion", rpc=RPC + "AddSecretVersion")
    def add_version(self, req: Request) -> tuple[int, Any]:
        secret = req.params["secret"]
        if secret not in self.secrets:
            return self._missing(secret)
        payload = req.json["payload"]
        data = base64.b64decode(payload["data"])
        if int(payload["dataCrc32c"]) != int(google_crc32c.value(data)):
            return google_error(400, "Checksum mismatch", "INVALID_ARGUMENT")
        self.versions[secret].append(data)
        number = len(self.versions[secret])
        return 200, {
            "name": f"{self._name(secret)}/versions/{number}",
            "createTime": NOW,
            "state": "ENABLED",
        }

    @route("GET", P + r"/(?P<secret>[^/:]+)/versions", rpc=RPC + "ListSecretVersions")
    def list_versions(self, req: Request) -> tuple[int, Any]:
        secret = req.params["secret"]
        if secret not in self.secrets:
            return self._missing(secret)
        n = len(self.versions[secret])
        return 200, {
            "versions": [
                {"name": f"{self._name(secret)}/versions/{i}", "state": "ENABLED"}
                for i in range(n, 0, -1)
            ]
        }

    @route(
        "GET",
        P + r"/(?P<secret>[^/:]+)/versions/(?P<version>[^/:]+):access",
        rpc=RPC + "AccessSecretVersion",
    )
    def access(self, req: Request) -> tuple[int, Any]:
        secret, version = req.params["secret"], req.params["version"]
        values = self.versions.get(secret)
        if not values:
            return self._missing(secret)
        number = len(values) if version == "latest" else int(version)
        if not 1 <= number <= len(values):
            return google_error(404, f"Secret Version [{version}] not found.", "NOT_FOUND")
        data = values[number - 1]
        return 200, {
            "name": f"{self._name(secret)}/versions/{number}",
            "payload": {
                "data": base64.b64encode(data).decode(),
                "dataCrc32c": str(google_crc32c.value(data)),
            },
        }
