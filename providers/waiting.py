"""Waiting for a cloud resource to reach a state, written once for every provider."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TypeVar

from providers.errors import DeploymentError

T = TypeVar("T")


def wait_for_state(
    fetch: Callable[[], T],
    state_of: Callable[[T], str],
    *,
    ready: str,
    failed: Collection[str],
    timeout: float,
    poll_interval: float,
    provider: str,
    operation: str,
    resource: str,
    noun: str,
    where: str = "",
    failed_hint: str = "",
    timeout_hint: str = "Raise the timeout, or look at the resource in the console",
) -> T:
    """Poll fetch() until its state is `ready`; DeploymentError on a failed state or timeout.

    where: extra location text for the message, e.g. " (region us-east-1)".
    """
    deadline = time.monotonic() + timeout
    while True:
        item = fetch()
        state = state_of(item)
        if state == ready:
            return item
        if state in failed:
            raise DeploymentError(
                f"{noun} is {state}, not {ready}{where}",
                provider=provider,
                operation=operation,
                resource=resource,
                hint=failed_hint,
            )
        if time.monotonic() >= deadline:
            raise DeploymentError(
                f"{noun} is {state}, not {ready} after {timeout:.0f}s{where}",
                provider=provider,
                operation=operation,
                resource=resource,
                hint=timeout_hint,
            )
        time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
