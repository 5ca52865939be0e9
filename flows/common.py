"""What every flow shares: which errors are worth a Prefect retry, which cloud a location
is on (the task tag for concurrency limits), artifact keys, and opening locations."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from providers.base import CloudStorage
from providers.errors import (
    CloudError,
    ConfigurationError,
    CredentialsError,
    NotFoundError,
    ProviderNotAvailableError,
    ProviderNotInitializedError,
)

#: the tag a task carries per cloud: `prefect concurrency-limit create aws 4` bounds the
#: AWS tasks of every flow run at once (see docs/prefect.md)
CLOUD_TAGS = ("aws", "gcp", "azure", "local")
_SCHEMES = {"s3": "aws", "gs": "gcp", "gcs": "gcp", "az": "azure", "abfs": "azure", "file": "local"}

# what no retry can fix: the user has to change a credential, a name or a setting first
_PERMANENT: tuple[type[CloudError], ...] = (
    CredentialsError,
    NotFoundError,
    ConfigurationError,
    ProviderNotAvailableError,
    ProviderNotInitializedError,
)


def permanent(exc: BaseException | None) -> bool:
    """True for an error a retry cannot fix: bad credentials, a missing bucket or block, bad
    input, or any CloudError the adapter marked not retryable."""
    if exc is None:
        return False
    if getattr(exc, "permanent", False):  # a task failure that carries a permanent cause
        return True
    if isinstance(exc, _PERMANENT):
        return True
    return isinstance(exc, CloudError) and not exc.retryable


def retry_unless_permanent(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry a failed task unless its error is permanent."""
    try:
        state.result()
    except BaseException as exc:  # the task's own exception, re-raised from its state
        return not permanent(exc)
    return False


def cloud_of(uri_or_provider: str) -> str | None:
    """'aws', 'gcp', 'azure' or 'local' for a location URL (s3://, gs://, az://, file://)
    or a provider name; None for a cloud this package does not know."""
    text = uri_or_provider.strip().lower()
    scheme, sep, _ = text.partition("://")
    if sep:
        return _SCHEMES.get(scheme)
    name = text.split(":", 1)[0]
    return name if name in CLOUD_TAGS else None


def cloud_tags(uri_or_provider: str) -> list[str]:
    cloud = cloud_of(uri_or_provider)
    return [cloud] if cloud else []


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def short_key(prefix: str, text: str, width: int = 60) -> str:
    """A readable artifact key for any text (a location URL), unique by a short hash."""
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return artifact_key(prefix, artifact_key(text)[-width:], digest)


def join_prefix(prefix: str, extra: str) -> str:
    extra = extra.strip("/")
    if not extra:
        return prefix
    return f"{prefix.rstrip('/')}/{extra}" if prefix else extra


def open_location(location: str) -> tuple[CloudStorage, str]:
    """Storage and prefix of a location; `block:NAME/prefix` loads the saved block."""
    from blocks import open_location as open_any

    return open_any(location)


def describe(location: str, prefix: str = "") -> str:
    """The cloud URL a location stands for (s3://bucket/prefix), blocks resolved; the text
    itself when it cannot be opened (the task that opens it reports why)."""
    try:
        storage, base = open_location(location)
        return storage.uri(join_prefix(base, prefix))
    except Exception:
        return location if not prefix else f"{location.rstrip('/')}/{prefix.strip('/')}"
