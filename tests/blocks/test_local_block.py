"""Blocks by name: a saved SpecifyLocal block resolves `block:NAME/prefix` locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.errors import ConfigurationError


def test_block_location_resolves_to_the_saved_root(prefect_harness: None, tmp_path: Path) -> None:
    from blocks import SpecifyLocal, open_location

    SpecifyLocal(root=str(tmp_path / "cloud-a"), bucket="data").save("cloud-a", overwrite=True)
    storage, prefix = open_location("block:cloud-a/reports")
    src = tmp_path / "r.txt"
    src.write_text("quarterly")
    storage.upload(src, f"{prefix}/q3.txt")

    assert prefix == "reports"
    assert (tmp_path / "cloud-a" / "storage" / "data" / "reports" / "q3.txt").read_text() == (
        "quarterly"
    )


def test_unknown_block_names_the_fix(prefect_harness: None) -> None:
    from blocks import open_location

    with pytest.raises(ConfigurationError) as err:
        open_location("block:nope/x")
    assert "nope" in str(err.value) and "specify cloud blocks init" in str(err.value)
