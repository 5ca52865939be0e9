"""What the lean Azure tests share: a connection string to an Azurite endpoint (or a proxy
in front of it), sha256 of bytes, the data planes."""

from __future__ import annotations

import hashlib

from providers.native import DataPlaneSettings
from tests.emulators import AZURITE_ACCOUNT, AZURITE_KEY

NATIVE = DataPlaneSettings("native")
SDK = DataPlaneSettings("sdk")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def conn_string(endpoint: str, key: str = AZURITE_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )
