"""The cross-cutting decorator on listings: mapped, never restarted (pages are retried)."""

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


def test_a_listing_is_never_restarted_by_the_decorator() -> None:
    """Restarting a walk and skipping what was yielded by count loses keys when the source
    changed meanwhile; the retry unit is a page (list_page with its token), not the walk."""
    store = FlakyListing(failures=1)
    got: list[str] = []
    with pytest.raises(CloudError) as err:
        got.extend(store.list_objects("k"))
    assert got == ["k0", "k1", "k2"]  # what came before the cut, once
    assert err.value.retryable and "connection failed" in str(err.value)
    assert store.calls == 1
