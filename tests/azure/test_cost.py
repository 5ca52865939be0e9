"""Cost Management through a fake Query API that answers in two pages (nextLink)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from providers.azure.provider import AzureProvider
from providers.base import CloudCost
from providers.errors import ConfigurationError, CostAnalysisError, CredentialsError
from providers.retry import RetryPolicy
from tests.azure.conftest import SUBSCRIPTION
from tests.fakes.azure_cost import install_cost, sample_rows
from tests.fakes.azure_https import FakeAzureServer, FakeCredential


def test_usage_query_follows_next_link_and_totals_match(
    fake_server: FakeAzureServer, fake_provider: AzureProvider, credential: FakeCredential
) -> None:
    rows = sample_rows(days=5)  # 15 rows
    install_cost(fake_server, rows, page_size=8)  # two pages
    cost = fake_provider.get_cost()
    assert isinstance(cost, CloudCost)
    records = cost.get_costs(date(2026, 1, 1), date(2026, 1, 6))
    posts = fake_server.of("POST", "Microsoft.CostManagement/query")
    assert len(posts) == 2
    assert (
        posts[0].path == f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/query"
    )
    assert "$skiptoken" not in posts[0].query and posts[1].query["$skiptoken"] == "8"
    body = posts[0].json()
    assert body["timePeriod"] == {"from": "2026-01-01T00:00:00Z", "to": "2026-01-05T23:59:59Z"}
    assert credential.scopes[0] == ("https://management.azure.com/.default",)

    assert len(records) == len(rows)
    expected = sum((Decimal(str(r[0])) for r in rows), Decimal(0))
    assert sum((r.amount for r in records), Decimal(0)) == expected
    first = records[0]
    assert (first.service, first.region, first.currency) == ("Virtual Machines", "eastus", "USD")
    assert (first.period_start, first.period_end) == (date(2026, 1, 1), date(2026, 1, 2))
    assert first.provider == "azure" and first.account == f"/subscriptions/{SUBSCRIPTION}"
    by_service: dict[str, Decimal] = {}
    for r in records:
        by_service[r.service] = by_service.get(r.service, Decimal(0)) + r.amount
    assert by_service["Storage"] == sum(
        (Decimal(str(r[0])) for r in rows if r[2] == "Storage"), Decimal(0)
    )
    assert next(r for r in records if r.service == "Bandwidth").region is None


def test_resource_group_scope_and_tag_grouping(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    install_cost(fake_server, sample_rows(days=1), page_size=10)
    scope = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-specify"
    provider = AzureProvider(
        fake_provider.settings.__class__(
            **{**fake_provider.settings.__dict__, "cost_scope": scope}
        ),
        credential=fake_provider.credential,
    )
    records = provider.get_cost().get_costs(
        date(2026, 1, 1), date(2026, 1, 2), group_by=("service", "tag:team")
    )
    assert len(records) == 3
    grouping = fake_server.requests[0].json()["dataset"]["grouping"]
    assert {"type": "TagKey", "name": "team"} in grouping
    assert fake_server.requests[0].path.startswith(scope + "/providers/")


def test_rejected_token_is_a_credentials_error(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    install_cost(fake_server, sample_rows(days=1), page_size=10)
    fake_server.require_token = True

    class Wrong(FakeCredential):
        def get_token(self, *scopes, **kwargs):  # type: ignore[no-untyped-def]
            token = super().get_token(*scopes, **kwargs)
            return type(token)("wrong-token", token.expires_on)

    provider = AzureProvider(fake_provider.settings, credential=Wrong())
    with pytest.raises(CredentialsError) as info:
        provider.get_cost().get_costs(date(2026, 1, 1), date(2026, 1, 2))
    assert SUBSCRIPTION in str(info.value)


def test_server_errors_are_retried_then_reported(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    calls = []

    @fake_server.route("POST", r"/subscriptions/[^/]+/providers/Microsoft\.CostManagement/query")
    def busy(req):  # type: ignore[no-untyped-def]
        calls.append(1)
        return 503, {}, {"error": {"code": "ServerBusy", "message": "try later"}}

    provider = AzureProvider(
        replace(fake_provider.settings, sdk_retries=1), credential=fake_provider.credential
    )
    cost = provider.get_cost()
    cost.retry_policy = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)
    with pytest.raises(CostAnalysisError) as info:
        cost.get_costs(date(2026, 1, 1), date(2026, 1, 2))
    assert info.value.retryable
    assert "ServerBusy" in str(info.value) and SUBSCRIPTION in str(info.value)
    assert len(calls) == 3 * 2  # 3 tenacity attempts x (1 + 1 SDK retry)


def test_empty_range_is_refused(fake_provider: AzureProvider) -> None:
    with pytest.raises(ConfigurationError):
        fake_provider.get_cost().get_costs(date(2026, 1, 2), date(2026, 1, 2))
