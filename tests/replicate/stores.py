"""Test stores that implement the CloudStorage protocol themselves (no SDK is involved).

CountingStorage wraps a real store and counts reads; MemoryStorage holds objects in a dict
and, unlike a directory, can hold keys such as '../x' that a hostile bucket could contain.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from providers.base import CloudStorage, StorageObject
from providers.errors import NotFoundError


class CountingStorage:
    """Delegates to a real store; counts open_read/upload_stream/head calls per key."""

    def __init__(self, inner: CloudStorage) -> None:
        self.inner = inner
        self.provider_name = inner.provider_name
        self.reads: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.heads: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def open_read(self, remote_key: str) -> BinaryIO:
        with self._lock:
            self.reads[remote_key] += 1
        return self.inner.open_read(remote_key)

    def upload_stream(self, stream: BinaryIO, remote_key: str, **kw) -> StorageObject:  # type: ignore[no-untyped-def]
        with self._lock:
            self.writes[remote_key] += 1
        return self.inner.upload_stream(stream, remote_key, **kw)

    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        return self.inner.list_objects(prefix)

    def head(self, remote_key: str) -> StorageObject:
        with self._lock:
            self.heads[remote_key] += 1
        return self.inner.head(remote_key)

    def uri(self, remote_key: str = "") -> str:
        return self.inner.uri(remote_key)


class MemoryStorage:
    """A bucket in a dict. `corrupt=True` stores one flipped byte (to test verification)."""

    provider_name = "memory"

    def __init__(self, objects: Mapping[str, bytes] | None = None, corrupt: bool = False) -> None:
        self.objects: dict[str, bytes] = dict(objects or {})
        self.corrupt = corrupt

    def uri(self, remote_key: str = "") -> str:
        return f"mem://bucket/{remote_key}"

    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield self._describe(key)

    def _describe(self, key: str) -> StorageObject:
        data = self.objects[key]
        return StorageObject(key, len(data), sha256=hashlib.sha256(data).hexdigest())

    def head(self, remote_key: str) -> StorageObject:
        if remote_key not in self.objects:
            raise NotFoundError("no such object", provider="memory", resource=remote_key)
        return self._describe(remote_key)

    def open_read(self, remote_key: str) -> BinaryIO:
        return io.BytesIO(self.objects[remote_key])

    def upload_stream(
        self,
        stream: BinaryIO,
        remote_key: str,
        *,
        size: int,
        sha256: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StorageObject:
        data = stream.read()
        if self.corrupt and data:
            data = bytes([data[0] ^ 1]) + data[1:]
        self.objects[remote_key] = data
        return self.head(remote_key)

    def upload(self, local_path: Path | str, remote_key: str, metadata=None) -> str:  # type: ignore[no-untyped-def]
        self.objects[remote_key] = Path(local_path).read_bytes()
        return self.uri(remote_key)

    def download(self, remote_key: str, local_path: Path | str) -> Path:
        if remote_key not in self.objects:
            raise NotFoundError("no such object", provider="memory", resource=remote_key)
        Path(local_path).write_bytes(self.objects[remote_key])
        return Path(local_path)

    def delete(self, remote_key: str) -> bool:
        return self.objects.pop(remote_key, None) is not None

    def get_url(self, remote_key: str, expires_in: int = 3600) -> str:
        return self.uri(remote_key)
