"""The native data plane: bulk bytes through obstore (Rust `object_store`), SDKs for the rest.

`byte_path(store)` below is THE place that chooses, per store, whether its bytes go
through the native client or the SDK; stores ask it at their byte-path points (a PUT of
an object's body, a GET of an object's body) and keep the SDK for everything else
(buckets, listings, HEAD, versions, signed URLs, deletes, multipart).

What goes native, and why not the rest (docs/replication.md, "Native data plane"):

- S3, native: a single PUT (below the multipart threshold) carrying
  `x-amz-checksum-sha256` (S3 refuses a body that does not match), its ETag compared with
  the MD5 of the bytes sent; every GET of an object's bytes (download, replication reads),
  checked by `CheckedReader` against S3's own hashes. Stays on the SDK: multipart
  (object_store completes the upload without showing the part ETags, so a damaged part
  cannot be caught *before* the object becomes visible where the service does not check
  part checksums, as moto does not); SSE-KMS / SSE-C (the ETag is no MD5); writes with tags.
- Azure, native: a single Put Blob (up to the store's single-shot size) through the lean
  writer of providers/native/azure_put (one signed HTTP PUT with a transactional
  `Content-MD5`, which the service checks before it stores; the MD5 it answers with is
  compared with ours), with an account key (Shared Key) or a SAS; the GET of a blob a
  download has described, when the description says what the bytes must hash to (its
  `Content-MD5`, or our sha256 record), through obstore: `CheckedReader` checks the whole
  body. Stays on the SDK: block uploads (larger blobs); writes with a token (Entra ID)
  credential (object_store sends no transactional `Content-MD5`, and the lean writer
  signs only with a key or SAS); metadata values that are not plain printable ASCII;
  reads of blobs with neither hash, reads by key (`open_read`: nothing known to check
  them by) and reads with a SAS, which keep `validate_content`.
- GCS, native: a single-shot write (below the resumable threshold, no KMS key) through
  the lean writer of providers/native/gcs_put (one JSON API multipart upload with
  `md5Hash` and `crc32c` in the object resource, which GCS checks before it creates the
  object); listing pages, object descriptions (head) and the bucket's existence through
  providers/native/gcs_list (JSON API objects.list / objects.get / buckets.get). A store
  the provider opens reads its endpoint and credentials without google-cloud-storage
  (providers/native/gcs_account) and builds the SDK client only for the rest. Stays on
  the SDK: reads, resumable uploads, KMS-keyed writes (object_store
  speaks the XML API without `x-goog-hash`, so no obstore write would be checked by the
  service; the GCS emulator does not speak that API at all).
- local: the local disk.

`SPECIFY_DATA_PLANE` (frozen `DataPlaneSettings.from_env`): `auto` (default: native where
the table says so and obstore is installed, extra `native`), `sdk` (never), `native` (as
auto, but a missing obstore is an error). Credentials, endpoint, region, addressing
style, proxies, CA bundle and timeouts come from the store's own SDK client, which was
built from the provider's settings or block: there is no second configuration.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from providers.errors import ConfigurationError
from providers.settings import environment

if TYPE_CHECKING:
    from providers.native.azure import AzureBytePath
    from providers.native.gcs_put import GCSBytePath
    from providers.native.s3 import S3BytePath
    from providers.native.s3_request import S3Requests

    BytePath: TypeAlias = S3BytePath | S3Requests | AzureBytePath | GCSBytePath

MODES = ("auto", "sdk", "native")
ENV_VAR = "SPECIFY_DATA_PLANE"
_ATTR = "_native_byte_path"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class DataPlaneSettings:
    """Which client moves an object's bytes: 'auto', 'sdk' or 'native'."""

    mode: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigurationError(
                f"unknown data plane {self.mode!r}",
                operation="configure",
                resource=ENV_VAR,
                hint=f"Set {ENV_VAR} to one of {', '.join(MODES)} (or leave it unset: auto)",
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DataPlaneSettings:
        value = (environment(env).get(ENV_VAR) or "auto").strip().lower()
        return cls(mode=value)


def obstore_available() -> bool:
    return importlib.util.find_spec("obstore") is not None


def _wanted(settings: DataPlaneSettings) -> bool:
    if settings.mode == "sdk":
        return False
    if obstore_available():
        return True
    if settings.mode == "native":
        raise ConfigurationError(
            "the native data plane needs obstore, which is not installed",
            operation="configure",
            resource=ENV_VAR,
            hint="pip install 'specify-cloud[native]', or unset SPECIFY_DATA_PLANE",
        )
    return False


def byte_path(store: Any, settings: DataPlaneSettings | None = None) -> BytePath | None:
    """The native byte path of `store`, or None where its bytes stay on the SDK.

    Decided once per store (on first use) and kept on it; see the module's table."""
    cached = store.__dict__.get(_ATTR, False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    with _LOCK:
        cached = store.__dict__.get(_ATTR, False)
        if cached is not False:
            return cached  # type: ignore[no-any-return]
        given = settings or getattr(store, "data_plane", None)
        chosen = _choose(
            store, given if isinstance(given, DataPlaneSettings) else DataPlaneSettings.from_env()
        )
        store.__dict__[_ATTR] = chosen
        return chosen


def _choose(store: Any, settings: DataPlaneSettings) -> BytePath | None:
    provider = getattr(store, "provider_name", None)
    if provider not in ("aws", "azure", "gcp") or not _wanted(settings):
        return None  # local: see the list above
    if provider == "gcp":  # single-shot writes, listings, descriptions (see the list above)
        from providers.native.gcs_put import GCSBytePath

        gcs_account = getattr(store, "lean_account", None)
        if gcs_account is not None:  # no SDK client is built for this (see the store)
            return GCSBytePath.from_account(gcs_account, store.bucket_name)
        return GCSBytePath.from_client(store.client, store.bucket_name)
    if provider == "azure":  # Put Blob, and reads of described blobs (see the list above)
        from providers.native.azure import AzureBytePath

        account = getattr(store, "lean_account", None)
        if account is not None:  # no SDK client is built for this (see the store)
            return AzureBytePath.from_account(account, store.container)
        return AzureBytePath.from_client(store.client, store.container)
    if getattr(store, "sse", None) not in (None, "AES256"):
        return None  # under SSE-KMS the ETag is no MD5: nothing to verify a write by
    lean = getattr(store, "lean", None)
    if lean is not None:  # signed requests on our socket pool: no boto3, no obstore
        return lean  # type: ignore[no-any-return]
    from providers.native.s3 import S3BytePath

    return S3BytePath.from_client(store.client, store.bucket, sse=store.sse)


def representable(key: str) -> bool:
    """Whether object_store addresses exactly this key: its paths have no empty segment
    (a trailing '/' would be dropped silently: 'folder/' is read as 'folder') and no
    control character. Every other key keeps the SDK path."""
    return bool(key) and not key.endswith("/") and _UNADDRESSABLE.search(key) is None


#: an empty path segment, or a control character (one C call per key)
_UNADDRESSABLE = re.compile(r"//|[\x00-\x1f\x7f]")


def native_for(store: Any, key: str) -> BytePath | None:
    """The native byte path for this key of store, or None (the SDK moves its bytes)."""
    chosen = byte_path(store)
    if chosen is None or chosen.refused or not representable(key):
        return None
    return chosen


def path_name(store: Any) -> str:
    """'native' or 'sdk': which client moves this store's bytes (reports, tests)."""
    return "native" if byte_path(store) is not None else "sdk"


from providers.native._common import NativeRefused  # noqa: E402

__all__ = [
    "ENV_VAR",
    "MODES",
    "DataPlaneSettings",
    "NativeRefused",
    "byte_path",
    "native_for",
    "obstore_available",
    "path_name",
    "representable",
]
