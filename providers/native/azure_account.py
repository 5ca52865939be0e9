"""What the lean Azure requests need to know of a storage account, without the SDK.

Importing azure-storage-blob costs about 0.9 s of CPU (it pulls aiohttp and cryptography
through azure.storage.blob._shared.authentication -> azure.core.pipeline.transport), more
than a replication of a few hundred blobs spends on their bytes. A store opened from a
connection string with an account key or a SAS (the common case, and Azurite's) reads
here what its lean requests need: the account name, the blob endpoint, the key or the
SAS, the API version the SDK would send, its CA bundle and timeouts. The store builds its
BlobServiceClient only when an operation the lean requests do not cover needs it.

`from_connection_string` reads a connection string as azure-storage-blob's
`parse_connection_str` does (`AccountName`, `AccountKey`, `SharedAccessSignature`,
`BlobEndpoint`, `DefaultEndpointsProtocol`, `EndpointSuffix`); anything it does not
read exactly the same way (development-storage shorthand, secondary endpoints, no key
and no SAS) gives None, and the store builds its SDK client as before. Tests compare
every field with the SDK client built from the same string.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: the x-ms-version azure-storage-blob sends by default (12.31: its newest supported
#: version); tests/native/test_azure_list.py checks it against the installed SDK
API_VERSION = "2026-10-06"
SERVICE_HOST_BASE = "core.windows.net"


@dataclass(frozen=True)
class AzureAccount:
    """One storage account's blob endpoint and its key or SAS (never in repr)."""

    account: str
    #: scheme://host[:port][/path]: the account's blob endpoint, no trailing '/'
    blob_url: str
    key: bytes | None = field(default=None, repr=False)
    sas: str | None = field(default=None, repr=False)
    api_version: str = API_VERSION
    verify: bool | str = True
    connect_timeout: float = 20.0
    read_timeout: float = 60.0

    @property
    def auth(self) -> str:
        return "shared-key" if self.key else "sas"

    @property
    def account_key(self) -> str | None:
        """The key as the connection string gives it (base64), for obstore."""
        return base64.b64encode(self.key).decode() if self.key else None

    def container_url(self, container: str) -> str:
        return f"{self.blob_url}/{container}"

    @classmethod
    def from_connection_string(
        cls, text: str, *, verify: bool | str = True
    ) -> AzureAccount | None:
        """The account of a connection string with an account key or a SAS, read as the
        SDK reads it; None where the lean requests cannot stand in for the SDK."""
        parts = [p.split("=", 1) for p in text.rstrip(";").split(";")]
        if any(len(p) != 2 for p in parts):
            return None  # malformed: the SDK says so, with its message
        settings = {k.strip().upper(): v for k, v in parts}
        if settings.get("USEDEVELOPMENTSTORAGE") or "BLOBSECONDARYENDPOINT" in settings:
            return None
        name = settings.get("ACCOUNTNAME")
        key_text = settings.get("ACCOUNTKEY")
        sas = settings.get("SHAREDACCESSSIGNATURE")
        endpoint = settings.get("BLOBENDPOINT")
        if not endpoint:
            if not name:
                return None
            scheme = settings.get("DEFAULTENDPOINTSPROTOCOL", "https")
            suffix = settings.get("ENDPOINTSUFFIX", SERVICE_HOST_BASE)
            endpoint = f"{scheme}://{name}.blob.{suffix}"
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc or url.query:
            return None
        key: bytes | None = None
        if name and key_text:
            try:
                key = base64.b64decode(key_text, validate=True)
            except (binascii.Error, ValueError):
                return None  # the SDK's signing fails on it with its own message
        elif not (sas and "sig=" in sas):
            return None
        if not name:
            # a SAS with a BlobEndpoint: the SDK's reading of the account from the URL
            # (only a Shared Key signature needs it; a SAS request is not signed here)
            host_part = url.netloc.split(".blob.core.")
            if len(host_part) > 1:
                name = host_part[0]
            elif url.netloc.startswith(("localhost", "127.0.0.1")):
                name = url.path.strip("/")
            else:
                name = ""
        return cls(
            account=name,
            blob_url=f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}",
            key=key,
            sas=None if key else str(sas).lstrip("?"),
            verify=verify,
        )

    @classmethod
    def from_client(cls, client: Any) -> AzureAccount | None:
        """The account a BlobServiceClient reaches with its key or SAS (None for a token
        credential or none: the SDK then keeps what these requests would do)."""
        cred = client.credential
        key_text = getattr(cred, "account_key", None) or getattr(
            getattr(cred, "named_key", None), "key", None
        )
        url = urlsplit(str(client.url))
        sas = url.query or getattr(cred, "signature", None)
        if not key_text and not (sas and "sig=" in sas):
            return None
        config = getattr(getattr(getattr(client, "_pipeline", None), "_transport", None),
                         "connection_config", None)  # fmt: skip
        return cls(
            account=str(client.account_name),
            blob_url=f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}",
            key=base64.b64decode(key_text) if key_text else None,
            sas=None if key_text else str(sas).lstrip("?"),
            api_version=str(client.api_version),
            verify=getattr(config, "verify", True),
            connect_timeout=float(getattr(config, "timeout", 20) or 20),
            read_timeout=float(getattr(config, "read_timeout", 60) or 60),
        )


__all__ = ["API_VERSION", "AzureAccount"]
