"""Prefect's own block standard test suite, run on every Specify block, plus what it
cannot check here: the logo is the cloud's logo in Prefect's catalog, and the abstract
ProviderBlock is no block type of its own."""

from __future__ import annotations

import inspect

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

import blocks
from blocks import SpecifyAWS, SpecifyAzure, SpecifyGCP, SpecifyLocal
from blocks.base import ProviderBlock


def _official_logo(block: type[Block]) -> str:
    """The logo Prefect's own integration for the same cloud shows in the catalog."""
    if block is SpecifyAWS:
        from prefect_aws import AwsCredentials as Official
    elif block is SpecifyGCP:
        from prefect_gcp import GcpCredentials as Official
    elif block is SpecifyAzure:
        from prefect_azure import AzureBlobStorageCredentials as Official
    else:
        from prefect.filesystems import LocalFileSystem as Official
    return str(Official._logo_url)


@pytest.mark.parametrize("block_type", [SpecifyLocal, SpecifyAWS, SpecifyGCP, SpecifyAzure])
class TestSpecifyBlocks(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_type: type[Block]) -> type[Block]:
        return block_type

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        # Prefect's version downloads the image (and skips without Pillow); no test
        # reaches the internet, so the logo is checked against the one Prefect's own
        # integration for that cloud uses, which Prefect's suite checks upstream.
        assert block._logo_url is not None
        assert str(block._logo_url) == _official_logo(block)

    def test_documentation_url_is_https(self, block: type[Block]) -> None:
        assert str(block._documentation_url).startswith("https://")


def test_the_abstract_base_is_not_a_block_type() -> None:
    from prefect.blocks.core import InvalidBlockRegistration

    assert inspect.isabstract(ProviderBlock)
    with pytest.raises(InvalidBlockRegistration):
        ProviderBlock.register_type_and_schema()
    registered = {
        cls.get_block_type_slug()
        for _, cls in inspect.getmembers(blocks)
        if Block.is_block_class(cls) and not inspect.isabstract(cls)
    }
    assert registered == {"specify-local", "specify-aws", "specify-gcp", "specify-azure"}


def test_the_supported_types_are_named_by_their_own_slugs() -> None:
    from blocks.resolve import CONVERTERS, TYPES, block_class

    for slug in TYPES:
        assert block_class(slug).get_block_type_slug() == slug
    # every prefect-* type reads as a Specify block
    assert set(CONVERTERS) == {s for s in TYPES if not s.startswith("specify-")}


def test_importing_blocks_imports_no_cloud_integration() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, blocks\n"
        "print(sorted(m for m in ('prefect_aws', 'prefect_gcp', 'prefect_azure', 'boto3')"
        " if m in sys.modules))\n"
        "blocks.SpecifyAWS\n"
        "print('prefect_aws' in sys.modules, 'prefect_gcp' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "True False"]
