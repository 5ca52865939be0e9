"""The seed's UnifiedCloudStorage: write to a primary and its backups, read with failover.

Each store is given as a provider name ("aws": its default bucket), a location URL
("s3://bucket/prefix", "./dir", see providers.locations) or a CloudStorage object.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from providers.base import CloudStorage
from providers.errors import CloudError, DownloadError, UploadError
from providers.locations import check_key, open_location

StoreSpec = str | CloudStorage | tuple[CloudStorage, str]


def resolve_store(spec: StoreSpec) -> tuple[CloudStorage, str, str]:
    """(storage, key prefix, display name) for a provider name, location or storage."""
    if isinstance(spec, tuple):
        storage, prefix = spec
        return storage, _dir(prefix), storage.uri(_dir(prefix))
    if isinstance(spec, str):
        from providers.registry import default_registry

        if spec in {i.name for i in default_registry().infos()}:
            return default_registry().require(spec).get_storage(), "", spec
        storage, prefix = open_location(spec)
        return storage, _dir(prefix), spec
    return spec, "", spec.uri()


def _dir(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


class UnifiedCloudStorage:
    """Storage with automatic failover: primary first, then each backup in order."""

    def __init__(self, primary: StoreSpec, backup: Sequence[StoreSpec] | StoreSpec = ()) -> None:
        single = isinstance(backup, str | tuple | CloudStorage)
        backups: Sequence[StoreSpec] = [backup] if single else backup  # type: ignore[list-item,assignment]
        self.stores = [resolve_store(primary)] + [resolve_store(b) for b in backups]

    @property
    def names(self) -> list[str]:
        return [name for _, _, name in self.stores]

    def upload(self, local_path: Path | str, remote_key: str, replicate: bool = True) -> str:
        """Upload to the primary, then (replicate=True) to each backup; the primary's URI.

        A failed backup does not stop the others; UploadError names each that failed.
        """
        check_key(remote_key)
        storage, prefix, _ = self.stores[0]
        url = storage.upload(local_path, prefix + remote_key)
        if not replicate:
            return url
        failures = []
        for storage, prefix, name in self.stores[1:]:
            try:
                storage.upload(local_path, prefix + remote_key)
            except CloudError as exc:
                failures.append(f"{name}: {exc}")
        if failures:
            raise UploadError(
                f"stored on the primary ({url}) but not on {len(failures)} backup(s): "
                + "; ".join(failures),
                operation="upload",
                resource=remote_key,
                hint="Run `specify cloud replicate` from the primary to catch the backups up",
            )
        return url

    def download(self, remote_key: str, local_path: Path | str) -> Path:
        """Download from the first store that serves the key; else DownloadError listing each."""
        return self.download_from(remote_key, local_path)[0]

    def download_from(self, remote_key: str, local_path: Path | str) -> tuple[Path, str]:
        """Like download, and also the name of the store that served it."""
        check_key(remote_key)
        failures = []
        for storage, prefix, name in self.stores:
            try:
                return storage.download(prefix + remote_key, local_path), name
            except CloudError as exc:
                failures.append(f"{name}: {exc}")
            except OSError as exc:  # a provider that let a socket error through
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
        raise DownloadError(
            f"every store failed ({len(failures)}): " + " | ".join(failures),
            operation="download",
            resource=remote_key,
            hint="Check that at least one store is reachable and holds the key",
        )
