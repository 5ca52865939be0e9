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
import importlib.util
from collections.abc import Callable
from typing import Any

from prefect.blocks.core import Block

from blocks.base import ProviderBlock
from providers.errors import ConfigurationError

#: slug -> (module, class) of each supported block type, Specify blocks first. Modules are
#: imported only when a block of that type is loaded (prefect-aws alone takes seconds).
TYPES: dict[str, tuple[str, str]] = {
    "specify-local": ("blocks.local", "SpecifyLocal"),
    "specify-aws": ("blocks.aws", "SpecifyAWS"),
    "specify-gcp": ("blocks.gcp", "SpecifyGCP"),
    "specify-azure": ("blocks.azure", "SpecifyAzure"),
    "aws-credentials": ("prefect_aws", "AwsCredentials"),
    "minio-credentials": ("prefect_aws", "MinIOCredentials"),
    "s3-bucket": ("prefect_aws", "S3Bucket"),
    "gcp-credentials": ("prefect_gcp", "GcpCredentials"),
    "gcs-bucket": ("prefect_gcp", "GcsBucket"),
    "azure-blob-storage-credentials": ("prefect_azure", "AzureBlobStorageCredentials"),
    "azure-blob-storage-container": ("prefect_azure", "AzureBlobStorageContainer"),
}
#: the package each module needs, and the extra that installs it
PACKAGES = {
    "blocks.aws": "prefect_aws",
    "blocks.gcp": "prefect_gcp",
    "blocks.azure": "prefect_azure",
    "prefect_aws": "prefect_aws",
    "prefect_gcp": "prefect_gcp",
    "prefect_azure": "prefect_azure",
}
EXTRAS = {"prefect_aws": "aws", "prefect_gcp": "gcp", "prefect_azure": "azure"}


def _installed(module: str) -> bool:
    package = PACKAGES.get(module)
    return package is None or importlib.util.find_spec(package) is not None


def supported_slugs() -> list[str]:
    """The slugs of the supported types whose package is installed (nothing imported)."""
    return [slug for slug, (module, _) in TYPES.items() if _installed(module)]


def block_class(slug: str) -> type[Block]:
    """The class of a supported block type (importing its module now)."""
    module, name = TYPES[slug]
    cls: type[Block] = getattr(importlib.import_module(module), name)
    return cls


def supported_types() -> dict[str, type[Block]]:
    """Block type slug -> class, for every supported type whose package is installed."""
    return {slug: block_class(slug) for slug in supported_slugs()}


def _not_found(name: str, why: str) -> ConfigurationError:
    slugs = ", ".join(supported_slugs())
    absent = sorted({PACKAGES[m] for m, _ in TYPES.values() if not _installed(m)})
    missing = "".join(
        f"; for {p.replace('_', '-')} blocks: pip install 'specify-cloud[{EXTRAS[p]}]'"
        for p in absent
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

    slugs = supported_slugs()
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
    if block_type:
        if block_type not in supported_slugs():
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
    cls = block_class(block_type)
    try:
        loaded: Block = cls.load(name, validate=True)  # type: ignore[assignment]
        return loaded
    except ValueError:
        raise _not_found(name, f"no saved block of type {block_type} named '{name}'") from None


def _aws_credentials(block: Any) -> ProviderBlock:
    from blocks.aws import SpecifyAWS

    return SpecifyAWS(credentials=block)


def _s3_bucket(block: Any) -> ProviderBlock:
    from blocks.aws import SpecifyAWS

    spec = SpecifyAWS(credentials=block.credentials, bucket=block.bucket_name)
    spec._base_prefix = block.bucket_folder or ""
    return spec


def _gcp_credentials(block: Any) -> ProviderBlock:
    from blocks.gcp import SpecifyGCP

    return SpecifyGCP(gcp_credentials=block)


def _gcs_bucket(block: Any) -> ProviderBlock:
    from blocks.gcp import SpecifyGCP

    spec = SpecifyGCP(gcp_credentials=block.gcp_credentials, bucket=block.bucket)
    spec._base_prefix = block.bucket_folder or ""
    return spec


def _azure_credentials(block: Any) -> ProviderBlock:
    from blocks.azure import SpecifyAzure

    return SpecifyAzure(credentials=block)


def _azure_container(block: Any) -> ProviderBlock:
    from blocks.azure import SpecifyAzure

    spec = SpecifyAzure(credentials=block.credentials, container=block.container_name)
    spec._base_prefix = block.base_folder or ""
    return spec


#: prefect-* block type slug -> how such a block reads as the Specify block of its cloud
#: (its credentials nested; a bucket/container block also gives the bucket and folder)
CONVERTERS: dict[str, Callable[[Any], ProviderBlock]] = {
    "aws-credentials": _aws_credentials,
    "minio-credentials": _aws_credentials,
    "s3-bucket": _s3_bucket,
    "gcp-credentials": _gcp_credentials,
    "gcs-bucket": _gcs_bucket,
    "azure-blob-storage-credentials": _azure_credentials,
    "azure-blob-storage-container": _azure_container,
}


def as_provider_block(block: Block) -> ProviderBlock:
    """Any supported block as a ProviderBlock (a Specify block is returned as it is)."""
    if isinstance(block, ProviderBlock):
        return block
    slug = block.get_block_type_slug()
    convert = CONVERTERS.get(slug)
    if convert is None:
        raise ConfigurationError(
            f"blocks of type {slug} do not configure a cloud provider",
            operation="load block",
            hint=f"Use one of: {', '.join(supported_slugs())}",
        )
    return convert(block)


__all__ = [
    "TYPES",
    "as_provider_block",
    "block_class",
    "find_block",
    "saved_types",
    "supported_slugs",
    "supported_types",
]
