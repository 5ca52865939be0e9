"""One parser for where data lives, used by every command and flow.

Accepted forms:
    s3://bucket[/prefix]      Amazon S3 (aws)
    gs://bucket[/prefix]      Google Cloud Storage (gcp)
    az://container[/prefix]   Azure Blob Storage (azure)
    file:///abs/path          a directory on this machine (local)
    ./dir, /abs/dir, ~/dir    the same, as a plain path
    block:NAME[/prefix]       the provider configured in the saved Prefect block NAME
    block:TYPE:NAME[/prefix]  the same, naming the block's type (e.g. s3-bucket:my-data)

A command parses each location once, at its edge, and hands the Location value down to
where a store opens (`open_location` here, or `blocks.open_location` for blocks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from providers.base import CloudStorage
from providers.base import check_key as check_key  # re-exported: the check lives in the base
from providers.errors import ConfigurationError

ACCEPTED_FORMS = (
    "s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, "
    "file:///absolute/path, a plain directory path, or block:NAME/prefix "
    "(block:TYPE:NAME/prefix to name the block's type)"
)

SCHEME_PROVIDERS = {"s3": "aws", "gs": "gcp", "az": "azure", "file": "local"}
PROVIDER_SCHEMES = {v: k for k, v in SCHEME_PROVIDERS.items()}

_BUCKET_RULES = {
    # S3 and GCS: 3-63 of lowercase letters, digits, dots, hyphens (GCS allows _ too)
    "aws": re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"),
    "gcp": re.compile(r"^[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]$"),
    # Azure containers: 3-63 of lowercase letters, digits and single hyphens
    "azure": re.compile(r"^(?!.*--)[a-z0-9][a-z0-9\-]{1,61}[a-z0-9]$"),
}
_BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]*$")


@dataclass(frozen=True)
class Location:
    """A parsed storage location."""

    provider: str  # aws | gcp | azure | local | block
    bucket: str  # bucket or container; the absolute directory for local; the block name
    prefix: str = ""
    block_type: str = ""  # for block locations: the type slug when the location names it

    @property
    def is_block(self) -> bool:
        return self.provider == "block"

    def child(self, extra: str) -> Location:
        """This location with extra appended to its prefix ('' leaves it as it is)."""
        extra = extra.strip("/")
        if not extra:
            return self
        prefix = f"{self.prefix.rstrip('/')}/{extra}" if self.prefix else extra
        return replace(self, prefix=_clean_prefix(str(self), prefix))

    def __str__(self) -> str:
        if self.provider == "block":
            kind = f"{self.block_type}:" if self.block_type else ""
            base = f"block:{kind}{self.bucket}"
        elif self.provider == "local":
            base = Path(self.bucket).as_uri()
        else:
            base = f"{PROVIDER_SCHEMES[self.provider]}://{self.bucket}"
        return f"{base}/{self.prefix}" if self.prefix else base


def _bad(text: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"'{text}' is not a storage location: {why}",
        operation="parse location",
        hint=f"Use one of: {ACCEPTED_FORMS}",
    )


def _clean_prefix(text: str, prefix: str) -> str:
    prefix = prefix.lstrip("/")
    if any(part == ".." for part in PurePosixPath(prefix).parts):
        raise _bad(text, "the prefix may not contain '..'")
    return prefix


def parse_location(text: str) -> Location:
    """Parse a location URL or path; ConfigurationError listing the accepted forms if bad."""
    raw = text.strip()
    if not raw:
        raise _bad(text, "it is empty")
    if raw.startswith("block:"):
        name, _, prefix = raw[len("block:") :].partition("/")
        block_type, _, name = name.rpartition(":")
        if not _BLOCK_NAME.match(name):
            raise _bad(text, "a block name is lowercase letters, digits and hyphens")
        if block_type and not _BLOCK_NAME.match(block_type):
            raise _bad(text, "a block type is its slug, e.g. s3-bucket in block:s3-bucket:NAME")
        return Location("block", name, _clean_prefix(text, prefix), block_type)
    if "://" not in raw:
        return Location("local", str(Path(raw).expanduser().resolve()))
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in SCHEME_PROVIDERS:
        raise _bad(text, f"unknown scheme '{scheme}://'")
    provider = SCHEME_PROVIDERS[scheme]
    if provider == "local":
        if parts.netloc not in ("", "localhost"):
            raise _bad(text, "file URLs name a path on this machine: file:///absolute/path")
        return Location("local", str(Path(unquote(parts.path)).resolve()))
    bucket = parts.netloc
    if not bucket:
        raise _bad(text, "the bucket/container name is missing")
    rule = _BUCKET_RULES[provider]
    if not rule.match(bucket):
        noun = "container" if provider == "azure" else "bucket"
        raise _bad(
            text,
            f"'{bucket}' is not a valid {noun} name (3-63 lowercase letters, digits, "
            "hyphens" + ("" if provider == "azure" else ", dots") + ")",
        )
    return Location(provider, bucket, _clean_prefix(text, unquote(parts.path)))


def open_location(location: Location | str) -> tuple[CloudStorage, str]:
    """The storage and key prefix for a non-block location (blocks resolve in blocks/)."""
    loc = parse_location(location) if isinstance(location, str) else location
    if loc.is_block:
        raise ConfigurationError(
            f"'{loc}' names a Prefect block",
            operation="open location",
            hint="Resolve block locations with blocks.open_location (needs Prefect)",
        )
    from providers.registry import get_provider

    return get_provider(loc.provider).get_storage(loc.bucket), loc.prefix
