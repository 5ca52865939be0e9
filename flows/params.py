"""Flow parameters as pydantic models: the Prefect UI's Custom run form shows each field
with its description, enumerations as choices and dates as date pickers.

The engines take their own frozen dataclasses (ReplicationOptions, DeployTarget, ...);
each model here converts with `to_engine()` and keeps the engine's defaults.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from providers.replication import ReplicationOptions

_ENGINE = {f.name: f.default for f in fields(ReplicationOptions) if f.default is not MISSING}

Strategy = Literal["best-effort", "all-or-nothing"]
GroupBy = Literal["category", "service", "region", "charge", "tag"]


class ReplicationOptionsModel(BaseModel):
    """How to replicate: which keys, how many at once, what may be deleted."""

    model_config = ConfigDict(extra="forbid", title="ReplicationOptions")

    include: list[str] = Field(
        default_factory=list,
        description="Globs of keys (relative to the prefix) to copy; empty copies every key. "
        "'*' also matches '/'.",
        examples=[["*.csv", "reports/*"]],
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Globs of keys to leave out, applied after include.",
        examples=[["*.tmp"]],
    )
    dry_run: bool = Field(
        default=_ENGINE["dry_run"],
        description="Only plan: report what would be copied or deleted and change nothing.",
    )
    delete_extraneous: bool = Field(
        default=_ENGINE["delete_extraneous"],
        description="Delete keys on a target that the source does not have (after copying).",
    )
    max_delete: int | None = Field(
        default=_ENGINE["max_delete"],
        ge=0,
        description="Refuse every delete on a target that would delete more keys than this.",
    )
    allow_empty_source: bool = Field(
        default=_ENGINE["allow_empty_source"],
        description="Let delete_extraneous run although the source lists no objects.",
    )
    transfers: int = Field(
        default=_ENGINE["transfers"], ge=1, description="Objects copied at once per run."
    )
    bandwidth_limit: int | None = Field(
        default=_ENGINE["bandwidth_limit"],
        gt=0,
        description="At most this many bytes per second over all transfers of one shard "
        "task (shards run in parallel); empty: no limit.",
    )
    multipart_threshold: int = Field(
        default=_ENGINE["multipart_threshold"],
        ge=0,
        description="Objects larger than this many bytes are streamed in parts, never held "
        "in memory.",
    )
    large_transfers: int = Field(
        default=_ENGINE["large_transfers"],
        ge=1,
        description="Large (multipart) objects in flight at once.",
    )
    journal_dir: str | None = Field(
        default=_ENGINE["journal_dir"],
        description="Directory of the resume journal; empty: $SPECIFY_STATE_DIR or "
        "~/.specify-cloud on the worker.",
    )
    use_journal: bool = Field(
        default=_ENGINE["use_journal"],
        description="Resume from the journal: skip what an earlier run already copied.",
    )
    attempts: int = Field(
        default=_ENGINE["attempts"],
        ge=1,
        description="Attempts per object and target for transient errors (each re-reads "
        "the source).",
    )
    spool_dir: str | None = Field(
        default=_ENGINE["spool_dir"],
        description="Where large objects are spooled when a target needs a seekable copy; "
        "empty: the system temporary directory.",
    )

    checksum: bool = Field(
        default=_ENGINE["checksum"],
        description="Compare the sha256 of every same-size object (rclone --checksum) "
        "instead of trusting the journal's record of a verified copy.",
    )
    journal_layout: Literal["auto", "single-host", "segments"] = Field(
        default=_ENGINE["journal_layout"],
        description="How shards share the journal: 'single-host' (one WAL file: every "
        "worker on one machine), 'segments' (a file per shard, for workers on several "
        "machines over a network mount), 'auto': segments when the state directory is on "
        "a network file system or the Dask cluster is remote.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_key_range(cls, data: Any) -> Any:
        """Accept the engine's own field names: key_range is the flow's to set per shard,
        so an empty one (dataclasses.asdict of ReplicationOptions) is dropped."""
        if isinstance(data, dict) and "key_range" in data and data["key_range"] is None:
            data = {k: v for k, v in data.items() if k != "key_range"}
        return data

    def to_engine(self) -> ReplicationOptions:
        data = self.model_dump()
        data["include"] = tuple(data["include"])
        data["exclude"] = tuple(data["exclude"])
        return ReplicationOptions(**data)


class DeployTargetModel(BaseModel):
    """One place to deploy to."""

    model_config = ConfigDict(extra="forbid", title="DeployTarget")

    provider: str = Field(
        description="The provider: aws, gcp, azure, local, or one a plugin registered.",
        examples=["aws"],
    )
    region: str = Field(
        default="",
        description="The provider's region, e.g. us-east-1, us-central1, eastus; empty "
        "only for local.",
        examples=["us-east-1"],
    )
    size: str | None = Field(
        default=None,
        description="small, medium or large, or the cloud's own instance type (t3.micro); "
        "empty: the flow's size.",
        examples=["small"],
    )

    def text(self) -> str:
        """The engine's PROVIDER:REGION[:SIZE] form."""
        parts = [self.provider, self.region] + ([self.size] if self.size else [])
        return ":".join(parts).rstrip(":")


def target_texts(targets: list[DeployTargetModel | str]) -> list[str]:
    """'provider:region[:size]' strings for the engine's parser, from either form."""
    return [t.text() if isinstance(t, DeployTargetModel) else str(t) for t in targets]


class CostOptions(BaseModel):
    """How to compare costs."""

    model_config = ConfigDict(extra="forbid", title="CostOptions")

    group_by: GroupBy = Field(
        default="category",
        description="Break costs down by FOCUS ServiceCategory, service name, region, "
        "charge category, or a tag (name it in tag_key).",
    )
    tag_key: str | None = Field(
        default=None,
        description="The tag to group by when group_by is 'tag' (e.g. team or env).",
        examples=["team"],
    )
    rates: dict[str, str] | None = Field(
        default=None,
        description="Exchange rates into the report currency: CURRENCY -> rate as a "
        "decimal string.",
        examples=[{"EUR": "1.08"}],
    )
    currency: str | None = Field(
        default=None,
        description="The report currency (ISO 4217, e.g. USD); empty: the data's own.",
        examples=["USD"],
    )
    # cost semantics (issue 15): which FOCUS cost column the comparison measures
    measure: Literal["auto", "billed", "effective"] = Field(
        default="auto",
        description="billed: FOCUS BilledCost; effective: EffectiveCost (amortized "
        "commitments); auto: billed unless a source gives only EffectiveCost (an Azure "
        "amortized export).",
    )

    @model_validator(mode="before")
    @classmethod
    def _tag_shorthand(cls, data: Any) -> Any:
        """Accept the command line's 'tag:KEY' for group_by."""
        if isinstance(data, dict):
            group = data.get("group_by")
            if isinstance(group, str) and group.startswith("tag:"):
                data = {**data, "group_by": "tag", "tag_key": data.get("tag_key") or group[4:]}
        return data

    @model_validator(mode="after")
    def _tag_needs_key(self) -> CostOptions:
        if self.group_by == "tag" and not self.tag_key:
            raise ValueError("group_by 'tag' needs tag_key (the tag to group by)")
        return self

    @property
    def group_key(self) -> str:
        """The analyzer's group name: 'tag:KEY' for tags."""
        return f"tag:{self.tag_key}" if self.group_by == "tag" else self.group_by
