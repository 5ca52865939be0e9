"""Fixtures of the cost tests: generated sample exports whose every figure is known."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.cost import sample
from providers.cost.analyzer import CloudCostAnalyzer, CostComparison
from providers.cost.frame import FocusFrame

FORMAT_SETS = {
    # the embedded default: CUR parquet, GCP JSONL, Azure CSV
    "default": {"aws_format": "parquet", "gcp_format": "jsonl", "azure_format": "csv"},
    "alternate": {"aws_format": "csv", "gcp_format": "parquet", "azure_format": "parquet"},
}


@pytest.fixture(scope="session", params=sorted(FORMAT_SETS))
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[sample.SampleTruth, CostComparison, Path]]:
    folder = tmp_path_factory.mktemp(f"sample-{request.param}")
    truth = sample.generate(folder, seed=11, **FORMAT_SETS[request.param])
    frame = FocusFrame.from_sources([folder])
    comparison = CloudCostAnalyzer().compare(frame, tag_key="team")
    frame.close()
    yield truth, comparison, folder


@pytest.fixture()
def sample_dir(tmp_path: Path) -> tuple[sample.SampleTruth, Path]:
    folder = tmp_path / "exports"
    return sample.generate(folder, seed=3, days=10, azure_format="csv", aws_format="csv"), folder


@pytest.fixture(scope="session")
def prefect_env() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
