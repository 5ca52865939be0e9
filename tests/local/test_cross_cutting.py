"""The cross-cutting pieces (audit, SDK guard, retry, entry points, locations), via local."""

from __future__ import annotations

import hashlib
import io
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import providers.registry as registry_module
from providers.base import (
    CloudCompute,
    CloudCost,
    CloudDatabase,
    CloudLogging,
    CloudMetrics,
    CloudSecrets,
    CloudStorage,
)
from providers.errors import (
    CloudError,
    ConfigurationError,
    CredentialsError,
    NotFoundError,
    ProviderNotAvailableError,
    UploadError,
)
from providers.local.provider import LocalProvider
from providers.locations import ACCEPTED_FORMS, Location, check_key, parse_location
from providers.operation import ServiceAdapter, cloud_operation, error_for_status
from providers.registry import ProviderInfo, ProviderRegistry
from providers.retry import RetryPolicy


def test_local_provider_implements_every_protocol(provider: LocalProvider) -> None:
    assert isinstance(provider.get_storage(), CloudStorage)
    assert isinstance(provider.get_metrics(), CloudMetrics)
    assert isinstance(provider.get_logging(), CloudLogging)
    assert isinstance(provider.get_secrets(), CloudSecrets)
    assert isinstance(provider.get_compute(), CloudCompute)
    assert isinstance(provider.get_database(), CloudDatabase)
    assert isinstance(provider.get_cost(), CloudCost)


# --------------------------------------------------------------------------- audit
def test_audit_one_line_per_mutating_operation(
    provider: LocalProvider, tmp_path: Path, audit_lines: Any
) -> None:
    store = provider.get_storage("audited")
    store.create_bucket()
    src = tmp_path / "f.txt"
    src.write_text("x")
    store.upload(src, "a/f.txt")
    store.head("a/f.txt")
    list(store.list_objects())
    store.download("a/f.txt", tmp_path / "copy.txt")
    with pytest.raises(ConfigurationError):
        store.upload(src, "../f.txt")
    store.delete("a/f.txt")
    records = audit_lines()
    assert [(r["what"], r["resource"], r["result"]) for r in records] == [
        ("local.storage.create_bucket", None, "ok"),
        ("local.storage.upload", "a/f.txt", "ok"),
        ("local.storage.upload", "../f.txt", "error"),
        ("local.storage.delete", "a/f.txt", "ok"),
    ]
    for r in records:
        assert r["who"] == "tester" and r["provider"] == "local"
        assert r["where"] == str(store.root)
        assert datetime.fromisoformat(r["when"]).tzinfo is not None
    assert "not allowed" in records[2]["error"]


# --------------------------------------------------------------------------- SDK guard
def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ProviderInfo(
        "fakecloud", "providers.local.provider:LocalProvider", "fakecloud", ("no_such_sdk_x1",)
    )
    monkeypatch.setattr(registry_module, "BUILTIN_PROVIDERS", (fake,))
    reg = ProviderRegistry(discover=False)
    assert reg.list_available() == []
    with pytest.raises(ProviderNotAvailableError) as err:
        reg.require("fakecloud")
    assert "pip install 'specify-cloud[fakecloud]'" in str(err.value)
    assert "no_such_sdk_x1" in str(err.value)
    assert reg.get("fakecloud") is None


SHA_1 = hashlib.sha256(b"1").hexdigest()


def test_a_provider_follows_its_environment_and_a_registered_one_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reg = ProviderRegistry(discover=False)
    monkeypatch.setenv("SPECIFY_LOCAL_ROOT", str(tmp_path / "one"))
    first = reg.require("local")
    assert reg.require("local") is first  # built once while nothing changes
    first.get_storage("b").create_bucket()
    first.get_storage("b").upload_stream(io.BytesIO(b"1"), "k", size=1, sha256=SHA_1)
    monkeypatch.setenv("SPECIFY_LOCAL_ROOT", str(tmp_path / "two"))
    second = reg.require("local")
    assert second is not first
    second.get_storage("b").create_bucket()
    second.get_storage("b").upload_stream(io.BytesIO(b"1"), "k", size=1, sha256=SHA_1)
    assert (tmp_path / "one" / "storage" / "b" / "k").is_file()
    assert (tmp_path / "two" / "storage" / "b" / "k").is_file()
    mine = LocalProvider(root=tmp_path / "mine")
    reg.register("local", mine)
    monkeypatch.setenv("SPECIFY_LOCAL_ROOT", str(tmp_path / "three"))
    assert reg.require("local") is mine


# --------------------------------------------------------------------------- retry
class StatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Flaky(ServiceAdapter):
    """A service whose calls fail with the given statuses, then succeed."""

    provider_name = "test"
    service_name = "flaky"
    retry_policy = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.01)

    def __init__(self, failures: list[int | Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        if isinstance(exc, StatusError):
            return error_for_status(
                exc.status,
                str(exc),
                provider="test",
                operation=operation,
                resource=resource,
                kind=kind,
            )
        return super().map_error(exc, operation=operation, resource=resource, kind=kind)

    @cloud_operation("put", kind=UploadError)
    def put(self, remote_key: str) -> str:
        self.calls += 1
        if self.failures:
            failure = self.failures.pop(0)
            raise StatusError(failure) if isinstance(failure, int) else failure
        return "stored"


def test_transient_errors_are_retried_three_times() -> None:
    flaky = Flaky([503, ConnectionResetError("reset by peer")])
    assert flaky.put("k") == "stored" and flaky.calls == 3
    always = Flaky([503, 429, 500, 200])
    with pytest.raises(UploadError) as err:
        always.put("k")
    assert always.calls == 3 and err.value.retryable and "k" in str(err.value)


@pytest.mark.parametrize(
    ("status", "error"), [(404, NotFoundError), (403, CredentialsError), (401, CredentialsError)]
)
def test_not_found_and_credentials_are_never_retried(status: int, error: type[CloudError]) -> None:
    flaky = Flaky([status])
    with pytest.raises(error):
        flaky.put("k")
    assert flaky.calls == 1


def test_other_errors_are_not_retried() -> None:
    flaky = Flaky([400])
    with pytest.raises(UploadError) as err:
        flaky.put("k")
    assert flaky.calls == 1 and not err.value.retryable


# --------------------------------------------------------------------------- entry points
def test_entry_point_providers_are_discovered_and_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "fake_dist-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-dist\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[specify_cloud.providers]\nfakecloud = fake_cloud_mod:FakeProvider\n"
    )
    (tmp_path / "fake_cloud_mod.py").write_text(
        textwrap.dedent(
            """
            from providers.local.provider import LocalProvider

            class FakeProvider(LocalProvider):
                name = "fakecloud"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ProviderRegistry()
    infos = {i.name: i for i in reg.infos()}
    assert infos["fakecloud"].source == "entry point"
    assert infos["fakecloud"].target == "fake_cloud_mod:FakeProvider"
    assert "fakecloud" in reg.list_available()
    provider = reg.require("fakecloud")
    assert type(provider).__name__ == "FakeProvider" and provider.name == "fakecloud"
    assert reg.require("fakecloud") is provider  # built once
    assert infos["local"].source == "builtin"  # built-ins keep precedence


# --------------------------------------------------------------------------- locations
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://my-bucket/some/prefix", Location("aws", "my-bucket", "some/prefix")),
        ("s3://my.bucket", Location("aws", "my.bucket", "")),
        ("gs://gcs_bucket-1/p", Location("gcp", "gcs_bucket-1", "p")),
        ("az://container-1/dir/x", Location("azure", "container-1", "dir/x")),
        ("file:///srv/data", Location("local", "/srv/data")),
        ("file://localhost/srv/my%20data", Location("local", "/srv/my data")),
        ("/srv/data", Location("local", "/srv/data")),
        ("block:my-block/sub/dir", Location("block", "my-block", "sub/dir")),
        ("block:prod", Location("block", "prod", "")),
    ],
)
def test_location_forms(text: str, expected: Location) -> None:
    assert parse_location(text) == expected


def test_relative_and_home_paths_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parse_location("./dir") == Location("local", str(tmp_path / "dir"))
    assert parse_location("~/d") == Location("local", str(tmp_path / "home" / "d"))
    assert str(parse_location("s3://bkt/p")) == "s3://bkt/p"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ftp://host/x",
        "s3://",
        "s3://ab",
        "s3://Upper",
        "az://double--dash",
        "gs://bucket/../up",
        "file://remote-host/x",
        "block:Bad_Name",
    ],
)
def test_bad_locations_list_the_accepted_forms(text: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_location(text)
    assert ACCEPTED_FORMS in str(err.value)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "./a", "a\\b", "a\x00b"])
def test_check_key_rejects_escaping_keys(key: str) -> None:
    with pytest.raises(ConfigurationError):
        check_key(key)
