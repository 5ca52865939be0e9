"""Targets and sizes: the --to parser and the one size table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.deployer import DeployTarget, hourly_price, parse_targets, resolve_size
from providers.errors import ConfigurationError

KNOWN = ["aws", "gcp", "azure", "local"]


def test_parses_the_documented_example() -> None:
    targets = parse_targets("aws:us-east-1,gcp:us-central1,azure:eastus,local", known=KNOWN)
    assert targets == [
        DeployTarget("aws", "us-east-1", "small", "t3.small"),
        DeployTarget("gcp", "us-central1", "small", "e2-small"),
        DeployTarget("azure", "eastus", "small", "Standard_B1ms"),
        DeployTarget("local", "local", "small", "process"),
    ]


def test_sizes_map_per_cloud_and_explicit_types_pass() -> None:
    large = parse_targets(
        "aws:eu-west-1,gcp:europe-west4,azure:westeurope", known=KNOWN, size="large"
    )
    assert [t.instance_type for t in large] == ["t3.large", "e2-standard-2", "Standard_D2s_v3"]
    mixed = parse_targets("aws:us-east-1:m7g.2xlarge,gcp:us-east4:medium", known=KNOWN)
    assert [t.instance_type for t in mixed] == ["m7g.2xlarge", "e2-medium"]
    assert resolve_size("azure", "Standard_B2s") == "Standard_B2s"


def test_prices_come_from_the_data_file() -> None:
    assert hourly_price("aws", "t3.small") == Decimal("0.0208")
    assert hourly_price("gcp", "e2-medium") == Decimal("0.033503")
    assert hourly_price("aws", "m7g.2xlarge") is None


def test_duplicates_are_dropped() -> None:
    assert len(parse_targets("local,local:local", known=KNOWN)) == 1


@pytest.mark.parametrize(
    ("text", "size", "resource", "words"),
    [
        ("oracle:us-ashburn-1", None, "to", "unknown provider 'oracle'"),
        ("aws:eastus", None, "to", "'eastus' is not a region name for aws"),
        ("gcp:us_central1", None, "to", "not a region name for gcp"),
        ("azure:East US", None, "to", "not a region name for azure"),
        ("aws", None, "to", "aws needs a region"),
        ("", None, "to", "no target"),
        ("aws:us-east-1", "huge", "size", "'huge' is neither a size"),
        ("gcp:us-central1:t3.small", None, "size", "instance type for gcp"),
        ("local", "Standard_B1ms", "size", "instance type for local"),
    ],
)
def test_bad_targets_name_the_field(text: str, size: str | None, resource: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_targets(text, known=KNOWN, size=size)
    assert err.value.resource == resource
    assert words in str(err.value)
