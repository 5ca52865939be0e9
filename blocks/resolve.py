"""Which saved block `block:NAME` means, and any supported block read as a ProviderBlock.

Resolution order (documented in docs/prefect.md):

1. `block:TYPE:NAME/...` names the type: the block of type TYPE saved as NAME.
2. `block:NAME/...`: the Prefect API is asked, in one query, for every saved block named
   NAME among the supported types below, and the block is loaded as the type it was saved
   as (never by trying types in turn). One match is used; none is an error listing the
   supported types; several are refused, naming each type and the qualified forms.

Supported types: the Specify blocks (specify-local, specify-aws, specify-gcp,
specify-azure) and, when their packages are installed, prefect-aws `AwsCredentials`,
`MinIOCredentials` and `S3Bucket`, prefect-gcp `GcpCredentials` and `GcsBucket`, and
prefect-azure `AzureBlobStorageCredentials` and `AzureBlobStorageContainer`.

A prefect-* block is read as the Specify block of its cloud with the prefect-* credentials
nested in it: a bucket/container block also gives the bucket and its folder (bucket_folder,
base_folder), under which every location of the block starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from prefect.blocks.core import Block

from blocks.base import ProviderBlock
from providers.errors import ConfigurationError

#: (module, class) of each supported block type, Specify blocks first
_TYPES: tuple[tuple[str, str], ...] = (
    ("blocks.local", "SpecifyLocal"),
    ("blocks.aws", "SpecifyAWS"),
    ("blocks.gcp", "SpecifyGCP"),
    ("blocks.azure", "SpecifyAzure"),
    ("prefect_aws", "AwsCredentials"),
    ("prefect_aws", "MinIOCredentials"),
    ("prefect_aws", "S3Bucket"),
    ("prefect_gcp", "GcpCredentials"),
    ("prefect_gcp", "GcsBucket"),
    ("prefect_azure", "AzureBlobStorageCredentials"),
    ("prefect_azure", "AzureBlobStorageContainer"),
)
#: the pip extra that brings each module's package
_EXTRAS = {"prefect_aws": "aws", "blocks.aws": "aws", "prefect_gcp": "gcp", "blocks.gcp": "gcp"}
_EXTRAS |= {"prefect_azure": "azure", "blocks.azure": "azure"}

_supported: dict[str, type[Block]] | None = None
_missing: dict[str, str] = {}  # class name -> extra, for types whose package is absent


def supported_types() -> dict[str, type[Block]]:
    """Block type slug -> class, for every supported type whose package is installed."""
    global _supported
    if _supported is None:
        found: dict[str, type[Block]] = {}
        for module, name in _TYPES:
            try:
                cls = getattr(importlib.import_module(module), name)
            except ImportError:
                _missing[name] = _EXTRAS.get(module, "all")
                continue
            found[cls.get_block_type_slug()] = cls
        _supported = found
    return dict(_supported)


def _not_found(name: str, why: str) -> ConfigurationError:
    slugs = ", ".join(supported_types())
    missing = "".join(
        f"; {cls} needs pip install 'specify-cloud[{extra}]'" for cls, extra in _missing.items()
    )
    return ConfigurationError(
        f"{why} (supported types: {slugs}{missing})",
        operation="load block",
        resource=name,
        hint="List blocks with `prefect block ls`; create them with `specify cloud blocks "
        "init` or in the Prefect UI",
    )


def saved_types(name: str) -> list[str]:
    """The slugs of the supported types that have a saved block called name (one query)."""
    from prefect.client.orchestration import get_client

    slugs = list(supported_types())
    body = {
        "block_documents": {"name": {"any_": [name]}, "is_anonymous": {"eq_": False}},
        "block_types": {"slug": {"any_": slugs}},
        "include_secrets": False,
    }
    with get_client(sync_client=True) as client:
        response = client.request("POST", "/block_documents/filter", json=body)  # type: ignore[arg-type]
        response.raise_for_status()
        documents = response.json()
    found = {str(d["block_type"]["slug"]) for d in documents if d.get("name") == name}
    return [s for s in slugs if s in found]


def find_block(name: str, block_type: str = "") -> Block:
    """The saved block called name, loaded as the type it was saved as (see the order)."""
    types = supported_types()
    if block_type:
        cls = types.get(block_type)
        if cls is None:
            raise _not_found(name, f"'{block_type}' is not a supported block type")
    else:
        found = saved_types(name)
        if not found:
            raise _not_found(name, f"no saved block named '{name}' of a supported type")
        if len(found) > 1:
            qualified = ", ".join(f"block:{slug}:{name}" for slug in found)
            raise ConfigurationError(
                f"the block name '{name}' is ambiguous: blocks of the types "
                f"{', '.join(found)} are saved under it",
                operation="load block",
                resource=name,
                hint=f"Name the type in the location ({qualified}) or rename one of them",
            )
        block_type = found[0]
        cls = types[block_type]
    try:
        loaded: Block = cls.load(name, validate=True)  # type: ignore[assignment]
        return loaded
    except ValueError:
        raise _not_found(name, f"no saved block of type {block_type} named '{name}'") from None


def _converters() -> dict[str, Callable[[Any], ProviderBlock]]:
    """prefect-* block type slug -> a function reading such a block as a Specify block."""
    out: dict[str, Callable[[Any], ProviderBlock]] = {}
    types = supported_types()
    if "aws-credentials" in types and "specify-aws" in types:
        from blocks.aws import SpecifyAWS

        def aws(block: Any) -> ProviderBlock:
            return SpecifyAWS(credentials=block)

        def s3(block: Any) -> ProviderBlock:
            spec = SpecifyAWS(credentials=block.credentials, bucket=block.bucket_name)
            spec._base_prefix = block.bucket_folder or ""
            return spec

        out.update({"aws-credentials": aws, "minio-credentials": aws, "s3-bucket": s3})
    if "gcp-credentials" in types and "specify-gcp" in types:
        from blocks.gcp import SpecifyGCP

        def gcp(block: Any) -> ProviderBlock:
            return SpecifyGCP(gcp_credentials=block)

        def gcs(block: Any) -> ProviderBlock:
            spec = SpecifyGCP(gcp_credentials=block.gcp_credentials, bucket=block.bucket)
            spec._base_prefix = block.bucket_folder or ""
            return spec

        out.update({"gcp-credentials": gcp, "gcs-bucket": gcs})
    if "azure-blob-storage-credentials" in types and "specify-azure" in types:
        from blocks.azure import SpecifyAzure

        def azure(block: Any) -> ProviderBlock:
            return SpecifyAzure(credentials=block)

        def container(block: Any) -> ProviderBlock:
            spec = SpecifyAzure(credentials=block.credentials, container=block.container_name)
            spec._base_prefix = block.base_folder or ""
            return spec

        out.update(
            {"azure-blob-storage-credentials": azure, "azure-blob-storage-container": container}
        )
    return out


def as_provider_block(block: Block) -> ProviderBlock:
    """Any supported block as a ProviderBlock (a Specify block is returned as it is)."""
    if isinstance(block, ProviderBlock):
        return block
    slug = block.get_block_type_slug()
    convert = _converters().get(slug)
    if convert is None:
        raise ConfigurationError(
            f"blocks of type {slug} do not configure a cloud provider",
            operation="load block",
            hint=f"Use one of: {', '.join(supported_types())}",
        )
    return convert(block)


__all__ = ["as_provider_block", "find_block", "saved_types", "supported_types"]
