"""The cross-cutting decorator on listings: a transient failure mid-walk loses nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.errors import CloudError
from providers.operation import ServiceAdapter, cloud_operation
from providers.retry import RetryPolicy


class FlakyListing(ServiceAdapter):
    provider_name = "test"
    service_name = "store"
    retry_policy = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.01)

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    @cloud_operation("list_objects", resource="prefix")
    def list_objects(self, prefix: str = "") -> Iterator[str]:
        self.calls += 1
        for i in range(5):
            if i == 3 and self.failures:
                self.failures -= 1
                raise ConnectionResetError("connection reset by peer")
            yield f"{prefix}{i}"


def test_listing_resumes_after_a_reset_without_duplicates() -> None:
    store = FlakyListing(failures=2)
    assert list(store.list_objects("k")) == ["k0", "k1", "k2", "k3", "k4"]
    assert store.calls == 3


def test_listing_gives_up_after_the_policy_attempts() -> None:
    store = FlakyListing(failures=10)
    with pytest.raises(CloudError) as err:
        list(store.list_objects())
    assert err.value.retryable and "connection failed" in str(err.value)
    assert store.calls == 3
