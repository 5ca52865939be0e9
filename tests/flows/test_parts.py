"""The flows' small parts without a server: which errors Prefect retries, which cloud a
location is on, the parameter models against the engines' own types, progress figures."""

from __future__ import annotations

from dataclasses import fields

import pytest
from pydantic import ValidationError

from flows.common import cloud_of, permanent, short_key
from flows.params import CostOptions, DeployTargetModel, ReplicationOptionsModel, target_texts
from flows.progress import ProgressSettings, TargetProgress, human_bytes
from flows.replicate import TargetFailed
from providers.errors import (
    CloudError,
    ConfigurationError,
    CredentialsError,
    NotFoundError,
    StorageError,
)
from providers.replication import ProgressEvent, ReplicationOptions


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (CredentialsError("expired", provider="aws", retryable=True), True),
        (NotFoundError("no such bucket", provider="gcp"), True),
        (ConfigurationError("no saved block named 'x'"), True),
        (CloudError("refused", retryable=False), True),
        (StorageError("connection reset", retryable=True), False),
        (OSError("network is unreachable"), False),
        (TargetFailed("s3://b/p", {"error": "listing failed"}, permanent=True), True),
        (TargetFailed("s3://b/p", {"failed": 2}), False),
    ],
)
def test_what_is_not_retried(error: BaseException, expected: bool) -> None:
    assert permanent(error) is expected


def test_permanence_survives_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(TargetFailed("az://c/p", {"error": "x"}, permanent=True)))
    assert permanent(err) and err.report == {"error": "x"}


@pytest.mark.parametrize(
    ("text", "cloud"),
    [
        ("s3://bkt/data", "aws"),
        ("gs://bkt", "gcp"),
        ("az://ctr/x", "azure"),
        ("file:///tmp/x", "local"),
        ("aws", "aws"),
        ("gcp:us-central1", "gcp"),
        ("hetzner:fsn1", None),
        ("ftp://host/x", None),
    ],
)
def test_cloud_of(text: str, cloud: str | None) -> None:
    assert cloud_of(text) == cloud


def test_progress_keys_are_valid_and_distinct() -> None:
    a = short_key("replicate-progress", "s3://Bucket/Some Prefix/" + "x" * 200)
    b = short_key("replicate-progress", "s3://bucket/some-prefix/" + "x" * 200)
    assert a != b
    for key in (a, b):
        assert key == key.lower() and all(c.isalnum() or c == "-" for c in key)


def test_replication_model_mirrors_the_engine_options() -> None:
    """Every engine option is in the form, with the engine's default (but key_range: the
    flow sets it per shard)."""
    engine = ReplicationOptions()
    model = ReplicationOptionsModel()
    assert set(ReplicationOptionsModel.model_fields) == {f.name for f in fields(engine)} - {
        "key_range"
    }
    assert model.to_engine() == engine
    chosen = ReplicationOptionsModel(include=["*.csv"], transfers=3).to_engine()
    assert chosen.include == ("*.csv",) and chosen.transfers == 3
    with pytest.raises(ValidationError, match="colour"):
        ReplicationOptionsModel(colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="transfers"):
        ReplicationOptionsModel(transfers=0)


def test_deploy_targets_in_either_form() -> None:
    targets = [DeployTargetModel(provider="aws", region="us-east-1", size="small"), "local"]
    assert target_texts(targets) == ["aws:us-east-1:small", "local"]
    assert DeployTargetModel(provider="local").text() == "local"


def test_cost_options_take_the_command_lines_tag_form() -> None:
    assert CostOptions.model_validate({"group_by": "tag:team"}).group_key == "tag:team"
    assert CostOptions(group_by="service").group_key == "service"
    with pytest.raises(ValidationError, match="tag_key"):
        CostOptions(group_by="tag")
    with pytest.raises(ValidationError, match="group_by"):
        CostOptions.model_validate({"group_by": "colour"})


def test_progress_settings_from_env() -> None:
    assert ProgressSettings.from_env({}).interval == 5.0
    assert ProgressSettings.from_env({"SPECIFY_PROGRESS_INTERVAL": "0.5"}).interval == 0.5
    with pytest.raises(ValueError, match="SPECIFY_PROGRESS_INTERVAL"):
        ProgressSettings.from_env({"SPECIFY_PROGRESS_INTERVAL": "soon"})


def test_progress_figures_follow_the_engine_events() -> None:
    p = TargetProgress("s3://b/p", key="k", settings=ProgressSettings(interval=60))
    assert p.percent() == 0.0 and "listing" in p.line()
    p(ProgressEvent("s3://b/p", "planned", nbytes=4096, objects=2))
    p(ProgressEvent("s3://b/p", "bytes", "a", nbytes=1024))
    assert p.percent() == pytest.approx(25.0)
    p(ProgressEvent("s3://b/p", "bytes", "a", nbytes=3072))
    p(ProgressEvent("s3://b/p", "copied", "a", objects=1))
    p(ProgressEvent("s3://b/p", "copied", "b", objects=1))
    assert p.percent() == 99.9  # 100 only once the engine says done
    assert p.line().startswith("s3://b/p: 2/2 objects copied, 4.0 KiB of 4.0 KiB, ")
    p(ProgressEvent("s3://b/p", "done"))
    assert p.percent() == 100.0
    assert human_bytes(512) == "512 B" and human_bytes(3 * 1024**3) == "3.0 GiB"


def test_the_documented_automation_is_valid() -> None:
    """docs/prefect.md's automation.yaml is what `prefect automation create` accepts, and
    it reacts to the event the cost flow emits."""
    import re
    from pathlib import Path

    import yaml
    from prefect.events.schemas.automations import AutomationCore, EventTrigger

    from flows.events import COST_ANOMALY

    docs = (Path(__file__).resolve().parents[2] / "docs" / "prefect.md").read_text()
    block = next(
        b for b in re.findall(r"```yaml\n(.*?)```", docs, re.S) if "cost-anomaly-notify" in b
    )
    automation = AutomationCore.model_validate(yaml.safe_load(block))
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.expect == {COST_ANOMALY}
    assert automation.actions[0].type == "send-notification"
