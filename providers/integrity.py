"""Checking bytes against the checksums a service computed: hashing, checked reads, evidence.

Written once for every store:

- `Hasher` computes sha256 and, when asked, md5 and crc32c over the same bytes in one pass.
  Hash values travel in one canonical form: sha256 and md5 as lower-case hex, crc32c as the
  base64 of its four big-endian bytes (the form S3 and GCS both use).
- `CheckedReader` wraps a byte source (an HTTP body, a file): it hashes what passes, maps
  the SDK's network errors to retryable CloudErrors through the store's `map_error`, and
  raises IntegrityError *before handing over the last byte* when the size or any expected
  hash differs. A consumer that writes what it reads (a spool file, an upload) therefore
  never finishes a write of damaged bytes.
- `Evidence` names what proved a copy good ("s3:etag-md5", "gcs:md5Hash", ...); the journal
  and the --json report carry it per object.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import zlib
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from providers.errors import CloudError, DownloadError, IntegrityError

#: algorithms in the order of strength (what `verify` prefers when both sides have it)
STRENGTH = ("sha256", "md5", "crc32c", "crc32", "s3-etag")

try:  # C implementation shipped with google-cloud-storage (extra 'gcp'); else pure Python
    import google_crc32c as _gcrc

    def _crc_new() -> Any:
        return _gcrc.Checksum()

except ImportError:  # pragma: no cover - only without the gcp extra

    class _PyCrc32c:
        _TABLE: list[int] = []

        def __init__(self) -> None:
            if not self._TABLE:
                for i in range(256):
                    c = i
                    for _ in range(8):
                        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
                    self._TABLE.append(c)
            self._crc = 0xFFFFFFFF

        def update(self, data: bytes) -> None:
            crc, table = self._crc, self._TABLE
            for b in data:
                crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
            self._crc = crc

        def digest(self) -> bytes:
            return (self._crc ^ 0xFFFFFFFF).to_bytes(4, "big")

    def _crc_new() -> Any:
        return _PyCrc32c()


def checks_sha256(stream: object, sha256: str) -> bool:
    """Whether stream (a CheckedReader, or a wrapper exposing its `expected`) refuses to
    hand over its last byte unless the content has this sha256: then a store writing from
    it need not hash the bytes once more."""
    expected = getattr(stream, "expected", None)
    return isinstance(expected, Mapping) and expected.get("sha256") == sha256


#: the checksum our S3 multipart uploads carry: CRC32C where a C implementation is
#: installed (google-crc32c, 3 GB/s), else CRC32 (zlib); S3 takes both as FULL_OBJECT
FAST_CRC = "crc32c" if "_gcrc" in globals() else "crc32"


def b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


class _Crc32:
    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes | memoryview) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(4, "big")


class _S3Etag:
    """An S3 multipart ETag: md5 of the parts' md5s, '-N' (value form 'etag@part_size')."""

    def __init__(self, part_size: int) -> None:
        self.part_size = max(1, part_size)
        self._md5s: list[bytes] = []
        self._cur = hashlib.md5(usedforsecurity=False)
        self._fill = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            take = min(len(view), self.part_size - self._fill)
            self._cur.update(view[:take])
            self._fill += take
            view = view[take:]
            if self._fill == self.part_size:
                self._md5s.append(self._cur.digest())
                self._cur, self._fill = hashlib.md5(usedforsecurity=False), 0

    def value(self) -> str:
        md5s = self._md5s + ([self._cur.digest()] if self._fill else [])
        whole = hashlib.md5(b"".join(md5s), usedforsecurity=False).hexdigest()
        return f"{whole}-{len(md5s)}@{self.part_size}"


class Hasher:
    """sha256 (unless sha256=False) plus md5 / crc32c / crc32 / s3-etag when asked, in one pass.

    algorithms may be a mapping (the expected values): 's3-etag' takes its part size
    from the expected value ('etag@part_size')."""

    def __init__(
        self,
        algorithms: tuple[str, ...] | frozenset[str] | Mapping[str, str] = (),
        *,
        sha256: bool = True,
    ) -> None:
        # sha256=False: only the named algorithms (a part's CRC need not cost a sha256)
        self._h: dict[str, Any] = {"sha256": hashlib.sha256()} if sha256 else {}
        if "md5" in algorithms:
            self._h["md5"] = hashlib.md5(usedforsecurity=False)
        if "crc32c" in algorithms:
            self._h["crc32c"] = _crc_new()
        if "crc32" in algorithms:
            self._h["crc32"] = _Crc32()
        if isinstance(algorithms, Mapping) and "s3-etag" in algorithms:
            self._h["s3-etag"] = _S3Etag(int(algorithms["s3-etag"].rsplit("@", 1)[1]))
        self.nbytes = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._h.values():
            h.update(data)
        self.nbytes += len(data)

    def value(self, algorithm: str) -> str | None:
        h = self._h.get(algorithm)
        if h is None:
            return None
        if algorithm in ("crc32c", "crc32"):
            return base64.b64encode(h.digest()).decode()
        if algorithm == "s3-etag":
            return str(h.value())
        return str(h.hexdigest())

    def digests(self) -> dict[str, str]:
        return {a: v for a in self._h if (v := self.value(a)) is not None}


def digests_of(data: bytes, algorithms: tuple[str, ...] = ("md5", "crc32c")) -> dict[str, str]:
    h = Hasher(algorithms)
    h.update(data)
    return h.digests()


def mismatches(expected: Mapping[str, str], got: Mapping[str, str]) -> list[str]:
    """'md5 expected X got Y' for every algorithm both have and that differs."""
    return [
        f"{a} expected {expected[a]}, got {got[a]}"
        for a in STRENGTH
        if a in expected and a in got and expected[a] != got[a]
    ]


def strongest_common(a: Mapping[str, str], b: Mapping[str, str]) -> str | None:
    return next((alg for alg in STRENGTH if alg in a and alg in b), None)


ErrorMapper = Callable[[Exception], CloudError]


class CheckedReader(io.RawIOBase):
    """A read-only stream that checks size and expected hashes as the bytes pass.

    expected: canonical hashes (sha256/md5/crc32c) the bytes must have; size: how many
    bytes the object has; map_error: turns an SDK/network exception raised by the raw
    stream into a CloudError (retryable for cuts and resets). `label` names the object in
    errors. The last chunk is withheld until the checks passed.
    """

    def __init__(
        self,
        raw: BinaryIO,
        *,
        size: int | None,
        expected: Mapping[str, str] | None = None,
        map_error: ErrorMapper | None = None,
        label: str = "",
        provider: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self._raw = raw
        self.size = size
        self.expected = {k: v for k, v in (expected or {}).items() if k in STRENGTH and v}
        self._map = map_error
        self.label = label
        self.provider = provider
        self.hasher = Hasher({**dict.fromkeys(extra, ""), **self.expected})
        self.checked = False

    @property
    def count(self) -> int:
        return self.hasher.nbytes

    def readable(self) -> bool:
        return True

    def _fail(self, message: str) -> IntegrityError:
        return IntegrityError(
            message,
            provider=self.provider,
            operation="read",
            resource=self.label,
            hint="The bytes were damaged or cut in transit, or the object changed; "
            "it is read again",
        )

    def _raw_read(self, n: int) -> bytes:
        try:
            return self._raw.read(n) or b""
        except CloudError:
            raise
        except Exception as exc:
            if self._map is None:
                raise DownloadError(
                    f"reading failed: {type(exc).__name__}: {exc}",
                    provider=self.provider,
                    operation="read",
                    resource=self.label,
                    retryable=True,
                ) from exc
            raise self._map(exc) from exc

    def verify_now(self) -> None:
        """Check what was read against the size and the expected hashes."""
        if self.size is not None and self.count != self.size:
            raise self._fail(f"got {self.count} bytes, the object has {self.size}")
        bad = mismatches(self.expected, self.hasher.digests())
        if bad:
            raise self._fail("; ".join(bad))
        self.checked = True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1024 * 1024), b""))
        if self.checked:
            return b""
        if size == 0:
            return b""
        if self.size is not None:
            # never ask for more than the object has, so the last read is the check point
            remaining = self.size - self.count
            if remaining <= 0:
                self.verify_now()
                return b""
            size = min(size, remaining)
        data = self._raw_read(size)
        if data:
            self.hasher.update(data)
        if not data or (self.size is not None and self.count >= self.size):
            self.verify_now()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a body that cannot close is no error
            self._raw.close()
        super().close()


def describe_evidence(evidence: str | None) -> str:
    return evidence or "none"
