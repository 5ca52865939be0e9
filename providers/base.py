"""The provider interface: seven service protocols, the CloudProvider ABC and the value types.

Only frozen dataclasses from this module cross the boundary between a provider and its
callers; SDK objects never leave a provider module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, ClassVar, Protocol, runtime_checkable

from providers.errors import ConfigurationError

# Metadata key under which every provider records the sha256 of an object's content at
# upload. Multipart ETags differ between clouds, so this is what replication compares.
SHA256_METADATA_KEY = "sha256"


# --------------------------------------------------------------------------- values
@dataclass(frozen=True)
class StorageObject:
    """One object in a bucket/container/directory."""

    key: str
    size: int
    last_modified: datetime | None = None
    etag: str | None = None
    sha256: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    version_id: str | None = None
    # Set only by `upload_stream`: the service's answer to the write itself (an MD5 or
    # CRC it computed over what it stored) matched the bytes this call read from the
    # stream, so size and sha256 need no second request (`head`) to be trusted.
    verified: bool = False
    # Checksums the *service* computed over the stored bytes, canonical form
    # (providers.integrity): {"md5": hex, "crc32c": base64, "sha256": hex}. Never our own
    # metadata: that is `sha256` above.
    hashes: Mapping[str, str] = field(default_factory=dict)
    # With verified=True: what proved the write good, e.g. "s3:etag-md5" (journal, --json).
    evidence: str | None = None


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version of an object (S3 versions, GCS generations, Azure versions)."""

    key: str
    version_id: str
    size: int
    last_modified: datetime | None = None
    is_latest: bool = False
    sha256: str | None = None


@dataclass(frozen=True)
class MetricData:
    """One data point of a named metric."""

    name: str
    value: float
    timestamp: datetime
    unit: str = "None"
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LogEntry:
    """One structured log record."""

    timestamp: datetime
    message: str
    level: str = "INFO"
    log_name: str = "default"
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretValue:
    """A secret's value at one version. The value is kept out of repr."""

    name: str
    version: str
    value: str = field(repr=False)
    created: datetime | None = None


@dataclass(frozen=True)
class SecretMetadata:
    """What can be said about a secret without reading its value."""

    name: str
    created: datetime | None = None
    updated: datetime | None = None
    versions: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceSpec:
    """What to run: the inputs of CloudCompute.create_instance."""

    name: str
    image: str = ""
    instance_type: str = ""
    user_data: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    region: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Instance:
    """A compute instance as the provider reports it."""

    instance_id: str
    name: str
    state: str  # pending | running | stopping | stopped | terminated | failed
    provider: str
    region: str | None = None
    instance_type: str | None = None
    public_address: str | None = None
    private_address: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    launched_at: datetime | None = None


@dataclass(frozen=True)
class DatabaseSpec:
    """Inputs of CloudDatabase.create_database."""

    name: str
    engine: str = "postgres"
    instance_class: str = ""
    storage_gb: int = 20
    username: str = "admin"
    password: str = field(default="", repr=False)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatabaseInstance:
    """A managed database as the provider reports it."""

    database_id: str
    name: str
    engine: str
    status: str  # creating | available | deleting | failed
    provider: str
    region: str | None = None
    endpoint: str | None = None
    port: int | None = None
    instance_class: str | None = None
    storage_gb: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CostRecord:
    """One cost line: a provider's charge for a service over a period.

    Amounts are Decimal so totals are exact to the cent. `raw` keeps the source columns.
    """

    provider: str
    service: str
    period_start: date
    period_end: date
    amount: Decimal
    currency: str
    estimated: bool = False
    region: str | None = None
    account: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class DeploymentResult:
    """The outcome of deploying one artifact to one provider/region."""

    provider: str
    region: str
    deployment_id: str
    state: str  # running | failed | rolled_back | planned
    instance_id: str | None = None
    address: str | None = None
    artifact_url: str | None = field(default=None, repr=False)
    duration_s: float = 0.0
    hourly_price: Decimal | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in {"running", "planned"}


def check_key(key: str) -> str:
    """The key check of every storage entry point: reject object keys that could escape a
    destination directory (ConfigurationError naming the key)."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ConfigurationError(
            f"object key {key!r} is not allowed",
            operation="check key",
            resource=key,
            hint="Keys are relative '/'-separated paths with no leading '/', '\\' or NUL",
        )
    if any(part in ("..", ".") for part in key.split("/")):
        raise ConfigurationError(
            f"object key {key!r} is not allowed",
            operation="check key",
            resource=key,
            hint="Keys may not contain '.' or '..' path segments",
        )
    return key


# --------------------------------------------------------------------------- protocols
@runtime_checkable
class CloudStorage(Protocol):
    """Unified object storage. Keys are '/'-separated; the store is one bucket/container.

    One contract for every store (tests/storage_contract runs it on local, S3, GCS, Azure):
    - every method taking a key checks it first (`check_key` below: no empty
      key, no leading '/', no '.' or '..' segment, no '\\' or NUL) and raises
      ConfigurationError before any request or write;
    - a missing bucket raises BucketNotFoundError from every operation on it, a missing
      object ObjectNotFoundError (from head, download, open_read); delete answers False
      and exists False for a missing object;
    - `StorageObject.metadata` is the user metadata as given at upload (names in lower
      case), without the sha256, which is `StorageObject.sha256`;
    - list_objects yields in ascending key order; prefix is a plain string prefix.
    Optional capabilities are the small protocols below (SupportsBuckets, SupportsVersions,
    SupportsSignedURLs, SupportsEncryption), checked with isinstance.
    """

    provider_name: ClassVar[str]

    def upload(
        self, local_path: Path | str, remote_key: str, metadata: Mapping[str, str] | None = None
    ) -> str:
        """Upload a file, recording its sha256 in object metadata; return the object's URI."""
        ...

    def download(self, remote_key: str, local_path: Path | str) -> Path:
        """Download to a temp file beside local_path, verify, then rename into place."""
        ...

    def list_objects(self, prefix: str = "") -> Iterator[StorageObject]:
        """Every object under prefix, following pagination."""
        ...

    def delete(self, remote_key: str) -> bool:
        """Delete an object; False when it did not exist."""
        ...

    def head(self, remote_key: str) -> StorageObject:
        """The object's description; ObjectNotFoundError when missing."""
        ...

    def exists(self, remote_key: str) -> bool:
        """Whether the object exists (BucketNotFoundError when the bucket does not)."""
        ...

    def open_read(self, remote_key: str) -> BinaryIO:
        """A readable stream of the object's bytes (caller closes it)."""
        ...

    def upload_stream(
        self,
        stream: BinaryIO,
        remote_key: str,
        *,
        size: int,
        sha256: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StorageObject:
        """Write an object from a stream whose size and sha256 are already known.

        Returns `verified=True` only when the service's own response confirmed that it
        stored exactly the bytes read from the stream; callers `head` the object otherwise.
        """
        ...

    def uri(self, remote_key: str = "") -> str:
        """The location URL of a key in this store, e.g. s3://bucket/key."""
        ...


# ------------------------------------------------------- optional storage capabilities
# Small protocols in the manner of rclone's optional features (fs/features.go): a caller
# asks `isinstance(store, SupportsVersions)` instead of probing with getattr/hasattr.


@runtime_checkable
class SupportsBuckets(Protocol):
    """The store can create its bucket/container and tell whether it exists."""

    def create_bucket(self, *, exist_ok: bool = True) -> bool:
        """Create the bucket; True when this call created it, False when it existed already
        (BucketExistsError instead when exist_ok is False)."""
        ...

    def bucket_exists(self) -> bool: ...


@runtime_checkable
class SupportsVersions(Protocol):
    """The store keeps earlier versions of an object (S3 versions, GCS generations, Azure
    blob versions, the local store's .specify/versions)."""

    def versioning_enabled(self) -> bool:
        """Whether overwrites and deletes keep the earlier version."""
        ...

    def list_versions(self, remote_key: str) -> list[ObjectVersion]:
        """The stored versions of exactly this key (not a prefix), newest first; the live
        one has is_latest. [] when the key has none; one entry when versioning is off."""
        ...


@runtime_checkable
class SupportsSignedURLs(Protocol):
    """The store can hand out time-limited URLs that read an object without credentials."""

    def get_url(self, remote_key: str, expires_in: int = 3600) -> str:
        """A GET URL valid for expires_in seconds (1 s .. 7 days, else ConfigurationError)."""
        ...


@runtime_checkable
class SupportsEncryption(Protocol):
    """Writes ask the service for server-side encryption with a chosen key or scope."""

    @property
    def encryption(self) -> str | None:
        """What every write asks for ('AES256', 'aws:kms:KEY', 'kms:KEY-NAME',
        'scope:NAME'), or None for the service's default."""
        ...


@runtime_checkable
class TakesDigests(Protocol):
    """Optional capability: `upload_stream(..., digests={"md5": hex, "crc32c": b64})`
    takes hashes of the content known before the write (a GCS source's own), so a store
    that must declare them up front (GCS) need not spool the stream to compute them."""

    takes_digests: ClassVar[bool]


@runtime_checkable
class RefinesReadCheck(Protocol):
    """Optional capability: what a read of a *listed* object must hash to, when the
    listing alone does not say (S3 lists a multipart ETag; HEAD gives the full-object
    checksum or the part size that makes the ETag checkable)."""

    def read_hashes(self, obj: StorageObject) -> dict[str, str]: ...


@runtime_checkable
class InProcess(Protocol):
    """Optional capability: the store's calls are this machine's own syscalls (a
    directory), with no network round trip to wait on. Threads then buy nothing but lock
    hand-offs (the GIL), so replication between such stores runs on one thread."""

    in_process: ClassVar[bool]


@runtime_checkable
class ListsRange(Protocol):
    """Optional capability: list one key range, ascending, page by page, starting at
    `start` with the service's own means (S3 StartAfter, GCS startOffset/endOffset, a
    sorted directory walk) and stopping at `end`, so a shard of a large bucket lists only
    its part and nothing is held but one page.

    Keys are full keys (with the prefix); start is inclusive, end exclusive, None open.
    Order: ascending by code point (= UTF-8 bytes, the order S3, GCS and Azure list in).
    A store may yield fewer details than `list_objects` (local: no sidecar is read, so no
    sha256 or metadata): size, etag and last_modified are what planning needs."""

    def list_range(
        self,
        prefix: str = "",
        start: str | None = None,
        end: str | None = None,
        *,
        page_size: int = 1000,
    ) -> Iterator[StorageObject]: ...


# One listing page and the token of the next (None after the last): what each store's
# `list_page` answers, with the continuation token or marker the service handed out.
ListingPage = tuple[list[StorageObject], str | None]


def follow_pages(fetch: Callable[[str | None], ListingPage]) -> Iterator[StorageObject]:
    """Every object of a paged listing, one page held at a time: each page is asked for
    with the token the previous one returned (a retried page repeats its own token, never
    skips a count of keys)."""
    token: str | None = None
    while True:
        objects, token = fetch(token)
        yield from objects
        if not token:
            return


def within_range(
    objects: Iterable[StorageObject], start: str | None, end: str | None
) -> Iterator[StorageObject]:
    """The objects of an ascending listing with start <= key < end (None: open), stopping
    at the first key at or past end; for services whose bounds are approximate (S3's
    StartAfter) or absent (Azure), or servers that ignore them (the GCS emulator)."""
    for obj in objects:
        if end is not None and obj.key >= end:
            return
        if start is None or obj.key >= start:
            yield obj


def read_expectation(obj: StorageObject) -> dict[str, str]:
    """What the bytes of obj must hash to: the service's own hashes, and our sha256 record."""
    out = dict(obj.hashes)
    if obj.sha256:
        out.setdefault("sha256", obj.sha256)
    return out


class CheckedDownload:
    """The verified-download template (Libcloud's `_save_object` shape), written once.

    A store supplies two primitives: `_describe(key, version_id)` (a StorageObject with the
    service's hashes) and `_open_bytes(key, version_id, obj)` (the raw byte source). The
    template streams through `CheckedReader` into a temp file beside the destination and
    renames it into place only after size and every known hash matched; a failed or
    damaged download leaves the destination untouched. Each store's `download` calls
    `_download_checked` under its own `@cloud_operation` (which retries from a fresh
    stream: nothing consumed is retried).
    """

    provider_name: ClassVar[str]

    def _describe(self, key: str, version_id: str | None) -> StorageObject:
        raise NotImplementedError

    def _open_bytes(self, key: str, version_id: str | None, obj: StorageObject) -> BinaryIO:
        raise NotImplementedError

    def _download_checked(
        self, remote_key: str, local_path: Path | str, version_id: str | None = None
    ) -> Path:
        import os
        import tempfile

        from providers.integrity import CheckedReader

        check_key(remote_key)  # before anything is asked or made
        target = Path(local_path)
        obj = self._describe(remote_key, version_id)
        target.parent.mkdir(parents=True, exist_ok=True)  # only once there is something
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                reader = CheckedReader(
                    self._open_bytes(remote_key, version_id, obj),
                    size=obj.size,
                    expected=read_expectation(obj),
                    label=remote_key,
                    provider=self.provider_name,
                )
                with reader:
                    while chunk := reader.read(1024 * 1024):
                        out.write(chunk)
                    reader.verify_now()
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target


@runtime_checkable
class CloudMetrics(Protocol):
    """Custom metrics."""

    def put_metric(
        self,
        name: str,
        value: float,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None: ...

    def get_metrics(
        self,
        name: str,
        start_time: datetime,
        end_time: datetime,
        dimensions: Mapping[str, str] | None = None,
    ) -> list[MetricData]: ...


@runtime_checkable
class CloudLogging(Protocol):
    """Structured logs: write records to a named log and query them back."""

    def write(
        self,
        message: str,
        level: str = "INFO",
        log_name: str = "default",
        attributes: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> None: ...

    def write_entries(self, entries: list[LogEntry]) -> int:
        """Write many records (batched to the service's limits); return how many were written."""
        ...

    def query(
        self,
        start_time: datetime,
        end_time: datetime,
        log_name: str | None = None,
        filter_text: str | None = None,
        limit: int = 1000,
    ) -> list[LogEntry]: ...


@runtime_checkable
class CloudSecrets(Protocol):
    """Secrets: setting an existing name adds a new version."""

    def set_secret(self, name: str, value: str) -> SecretMetadata: ...

    def get_secret(self, name: str, version: str | None = None) -> SecretValue: ...

    def list_secrets(self) -> list[SecretMetadata]: ...

    def delete_secret(self, name: str) -> bool: ...


@runtime_checkable
class CloudCompute(Protocol):
    """Compute instances: create, wait, describe, list by tag, read output, terminate."""

    def create_instance(self, spec: InstanceSpec) -> Instance: ...

    def get_instance(self, instance_id: str) -> Instance: ...

    def list_instances(self, tags: Mapping[str, str] | None = None) -> list[Instance]: ...

    def wait_until_running(self, instance_id: str, timeout: float = 300.0) -> Instance: ...

    def get_output(self, instance_id: str) -> str:
        """Console/stdout output of the instance (may be empty)."""
        ...

    def terminate_instance(self, instance_id: str) -> bool: ...


@runtime_checkable
class CloudDatabase(Protocol):
    """Managed databases."""

    def create_database(self, spec: DatabaseSpec) -> DatabaseInstance: ...

    def get_database(self, database_id: str) -> DatabaseInstance: ...

    def list_databases(self) -> list[DatabaseInstance]: ...

    def wait_until_available(
        self, database_id: str, timeout: float = 900.0
    ) -> DatabaseInstance: ...

    def delete_database(self, database_id: str) -> bool: ...


@runtime_checkable
class CloudCost(Protocol):
    """Billed cost over a date range [start, end)."""

    def get_costs(
        self,
        start: date,
        end: date,
        granularity: str = "DAILY",
        group_by: tuple[str, ...] = ("service",),
    ) -> list[CostRecord]: ...


COST_GRANULARITIES = ("DAILY", "MONTHLY")


def check_cost_query(provider: str, start: date, end: date, granularity: str) -> str:
    """Validate CloudCost.get_costs arguments; return the upper-cased granularity."""
    upper = granularity.upper()
    if upper not in COST_GRANULARITIES:
        raise ConfigurationError(
            f"unknown granularity {granularity!r}",
            provider=provider,
            operation="get_costs",
            hint=f"Use {' or '.join(COST_GRANULARITIES)}",
        )
    if end <= start:
        raise ConfigurationError(
            f"empty date range {start} .. {end}",
            provider=provider,
            operation="get_costs",
            hint="The end date is exclusive and must come after the start",
        )
    return upper


# --------------------------------------------------------------------------- provider
@runtime_checkable
class SupportsDestroy(Protocol):
    """A provider that removes a deployment itself: its instances, staged artifacts and
    whatever else it made (VM providers; a single-region provider may take no region)."""

    def destroy(self, deployment_id: str, region: str | None = None) -> int:
        """Remove the deployment's resources; returns how many instances were removed."""
        ...


class CloudProvider(ABC):
    """One cloud. Subclasses build service objects lazily and deploy artifacts."""

    name: ClassVar[str] = ""
    #: the pip extra that installs this provider's SDKs (named in ProviderNotAvailableError)
    extra: ClassVar[str] = ""

    @abstractmethod
    def get_storage(self, bucket: str | None = None) -> CloudStorage: ...

    @abstractmethod
    def get_metrics(self) -> CloudMetrics: ...

    @abstractmethod
    def get_logging(self) -> CloudLogging: ...

    @abstractmethod
    def get_secrets(self) -> CloudSecrets: ...

    @abstractmethod
    def get_compute(self) -> CloudCompute: ...

    @abstractmethod
    def get_database(self) -> CloudDatabase: ...

    @abstractmethod
    def get_cost(self) -> CloudCost: ...

    @abstractmethod
    def deploy(
        self,
        artifact: Path | str,
        region: str,
        *,
        instance_type: str | None = None,
        deployment_id: str | None = None,
        run_command: str | None = None,
        port: int | None = None,
        timeout: float = 300.0,
    ) -> DeploymentResult: ...

    @classmethod
    def sdk_available(cls) -> bool:
        """True when the provider's SDKs can be imported."""
        return True

    @classmethod
    def credentials_found(cls) -> bool | None:
        """True/False when credentials can be detected without a network call; None if unknown."""
        return None
