"""The published Azure examples replayed at the adapters, through the same endpoint options
the other tests use (AzureSettings.arm_endpoint, key_vault_url, ingestion and query
endpoints), plus what the contract refuses.

Each test serves a vendored answer (tests/contracts/azure/*/examples) verbatim, or the
contract fakes built from them, and checks what a user of the adapter gets.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from providers.azure.compute import AzureVirtualMachines
from providers.azure.monitor import MonitorWorkspace
from providers.azure.provider import AzureProvider
from providers.base import DatabaseSpec, InstanceSpec, LogEntry
from providers.errors import ConfigurationError
from tests.contracts.conftest import replay, with_host
from tests.contracts.spec import example, example_response
from tests.fakes.azure_arm import FakeResourceManager
from tests.fakes.azure_cost import FakeCostManagement, UsageItem
from tests.fakes.azure_fixtures import RESOURCE_GROUP, SUBSCRIPTION
from tests.fakes.azure_https import FakeAzureServer
from tests.fakes.azure_monitor import FakeMonitor

QUERY = r"/subscriptions/[^/]+(/resourceGroups/[^/]+)?/providers/Microsoft\.CostManagement/query"
VMS = r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/virtualMachines"
COST_EXAMPLE = "azure/costmanagement/examples/SubscriptionQuery.json"


# ------------------------------------------------------------------ Cost Management


def test_published_daily_answer_becomes_records(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    body = example_response(COST_EXAMPLE)
    seen = replay(fake_server, "POST", QUERY, "Query_Usage", [(200, {}, body)])
    records = fake_provider.get_cost().get_costs(date(2018, 3, 31), date(2018, 4, 30))
    rows = body["properties"]["rows"]
    assert len(seen) == 1 and len(records) == len(rows)
    assert [r.amount for r in records] == [Decimal(str(row[0])) for row in rows]
    assert [r.period_start for r in records] == [
        date(2018, 3, 31),
        date(2018, 3, 31),
        date(2018, 4, 1),
        date(2018, 4, 29),
    ]
    assert {r.currency for r in records} == {"USD"}
    assert records[1].raw["ResourceGroup"] == "Ict_StratAndPlan_GoldSprova_Prod"


def test_204_no_content_is_no_rows(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    assert "204" in example(COST_EXAMPLE)["responses"]  # documented: No Content
    seen = replay(fake_server, "POST", QUERY, "Query_Usage", [(204, {}, None)])
    assert fake_provider.get_cost().get_costs(date(2026, 1, 1), date(2026, 1, 8)) == []
    assert len(seen) == 1


def test_204_on_a_next_link_page_ends_the_rows(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    first = example_response(COST_EXAMPLE)
    first["properties"]["nextLink"] = (
        f"{fake_server.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/"
        "query?api-version=2025-03-01&$skiptoken=AQAAAA%3D%3D"
    )
    seen = replay(fake_server, "POST", QUERY, "Query_Usage", [(200, {}, first), (204, {}, None)])
    records = fake_provider.get_cost().get_costs(date(2018, 3, 31), date(2018, 4, 30))
    assert len(records) == 4 and len(seen) == 2
    assert seen[1].query["$skiptoken"] == "AQAAAA=="


def test_the_fake_answers_204_on_later_pages_too(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    items = [UsageItem(date(2026, 1, d), "Storage", "westeurope", Decimal("1.5")) for d in (1, 2)]
    FakeCostManagement(fake_server, items, page_size=1, no_content_pages={1})
    records = fake_provider.get_cost().get_costs(date(2026, 1, 1), date(2026, 1, 3))
    assert [r.period_start for r in records] == [date(2026, 1, 1)]


def test_grouping_by_a_tag_keeps_the_tags(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    items = [
        UsageItem(date(2026, 1, 1), "Storage", "westeurope", Decimal("1.10"), tags={"team": "a"}),
        UsageItem(date(2026, 1, 1), "Storage", "westeurope", Decimal("2.20"), tags={"team": "b"}),
        UsageItem(date(2026, 1, 1), "Storage", "eastus", Decimal("0.30"), tags={"team": "a"}),
        UsageItem(date(2026, 1, 2), "Bandwidth", "", Decimal("0.05")),
    ]
    fake = FakeCostManagement(fake_server, items)
    records = fake_provider.get_cost().get_costs(
        date(2026, 1, 1), date(2026, 1, 3), group_by=("service", "tag:team")
    )
    assert fake.bodies[0]["dataset"]["grouping"] == [
        {"type": "Dimension", "name": "ServiceName"},
        {"type": "TagKey", "name": "team"},
    ]
    by_tag = {(r.service, tuple(r.tags.items())): r.amount for r in records}
    assert by_tag == {
        ("Storage", (("team", "a"),)): Decimal("1.4"),
        ("Storage", (("team", "b"),)): Decimal("2.2"),
        ("Bandwidth", ()): Decimal("0.05"),
    }


def test_more_than_two_groupings_are_refused_before_sending(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    fake = FakeCostManagement(fake_server, [])
    with pytest.raises(ConfigurationError) as info:
        fake_provider.get_cost().get_costs(
            date(2026, 1, 1), date(2026, 1, 2), group_by=("service", "region", "tag:team")
        )
    assert "at most 2" in str(info.value)
    assert fake.bodies == []


def test_monthly_costs_are_summed_from_daily_rows(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    items = [
        UsageItem(date(2026, 1, 30), "Storage", "westeurope", Decimal("1.25")),
        UsageItem(date(2026, 1, 31), "Storage", "westeurope", Decimal("2.50")),
        UsageItem(date(2026, 2, 1), "Storage", "westeurope", Decimal("4.00")),
    ]
    fake = FakeCostManagement(fake_server, items)
    records = fake_provider.get_cost().get_costs(
        date(2026, 1, 1), date(2026, 3, 1), granularity="MONTHLY"
    )
    assert fake.bodies[0]["dataset"]["granularity"] == "Daily"  # the documented value
    assert [(r.period_start, r.period_end, r.amount) for r in records] == [
        (date(2026, 1, 1), date(2026, 2, 1), Decimal("3.75")),
        (date(2026, 2, 1), date(2026, 3, 1), Decimal("4.00")),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"granularity": "Monthly"}, "Invalid granularity"),
        (
            {
                "grouping": [
                    {"type": "Dimension", "name": n}
                    for n in ("ServiceName", "ResourceLocation", "MeterCategory")
                ]
            },
            "up to 2 group by clauses",
        ),
        ({"grouping": [{"type": "Tag", "name": "team"}]}, "Invalid grouping type"),
    ],
)
def test_the_fake_refuses_what_the_query_contract_refuses(
    fake_server: FakeAzureServer,
    fake_provider: AzureProvider,
    change: dict[str, Any],
    message: str,
) -> None:
    FakeCostManagement(fake_server, [])
    body = {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T23:59:59Z"},
        "dataset": {"granularity": "Daily", **change},
    }
    client = fake_provider.get_cost().client
    url = (
        f"{fake_server.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/"
        "query?api-version=2025-03-01"
    )
    response = client.send_request(HttpRequest("POST", url, json=body))
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert fake_server.refused


# ------------------------------------------------------------------ Virtual Machines

LIST_MAX = "azure/compute/examples/VirtualMachine_List_MaximumSet_Gen.extract.json"
INSTANCE_VIEW = "azure/compute/examples/VirtualMachine_Get_InstanceView.json"


def test_documented_list_body_with_instance_views_is_running(
    fake_server: FakeAzureServer, vms_only: AzureVirtualMachines
) -> None:
    lists = replay(
        fake_server, "GET", VMS, "VirtualMachines_List", [(200, {}, example_response(LIST_MAX))]
    )
    views = replay(
        fake_server,
        "GET",
        VMS + r"/[^/]+/instanceView",
        "VirtualMachines_InstanceView",
        [(200, {}, example_response(INSTANCE_VIEW))],
    )
    (vm,) = vms_only.list_instances()
    assert vm.state == "running"  # PowerState/running of the instance view
    assert vm.instance_type == "Standard_A0" and vm.region == "eastus"
    assert vm.launched_at == datetime(2022, 1, 14, 16, 43, 41, 683000, tzinfo=UTC)
    assert "$expand" not in lists[0].query  # not allowed without $filter
    assert len(views) == 1


def test_documented_list_body_alone_is_not_pending(
    fake_server: FakeAzureServer, vms_only: AzureVirtualMachines
) -> None:
    """provisioningState Succeeded is mapped even when no instance view can be read."""
    replay(fake_server, "GET", VMS, "VirtualMachines_List", [(200, {}, example_response(LIST_MAX))])
    replay(
        fake_server,
        "GET",
        VMS + r"/[^/]+/instanceView",
        "VirtualMachines_InstanceView",
        [(404, {}, {"error": {"code": "ResourceNotFound", "message": "gone"}})],
    )
    (vm,) = vms_only.list_instances()
    assert vm.state == "running"


def test_minimal_list_body_names_vms_by_their_id(
    fake_server: FakeAzureServer, vms_only: AzureVirtualMachines
) -> None:
    minimal = example_response("azure/compute/examples/VirtualMachine_List_MinimumSet_Gen.json")
    replay(fake_server, "GET", VMS, "VirtualMachines_List", [(200, {}, minimal)])
    replay(
        fake_server,
        "GET",
        VMS + r"/[^/]+/instanceView",
        "VirtualMachines_InstanceView",
        [(200, {}, example_response(INSTANCE_VIEW))],
    )
    found = vms_only.list_instances()
    assert [(i.name, i.state) for i in found] == [("{virtualMachineName}", "running")] * 2


def test_list_with_expand_and_no_filter_is_refused(
    vms: AzureVirtualMachines, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    with pytest.raises(HttpResponseError) as info:
        list(vms.compute.virtual_machines.list(RESOURCE_GROUP, expand="instanceView"))
    assert info.value.status_code == 400 and "InvalidParameter" in str(info.value)
    fake_server.refused.clear()


def test_list_instances_reads_real_states_from_the_fake(
    vms: AzureVirtualMachines, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    vms.create_instance(InstanceSpec(name="web", tags={"team": "a"}))
    (vm,) = vms.list_instances({"team": "a"})
    assert vm.state in {"pending", "running"} and fake_server.refused == []
    assert fake_server.of("GET", "/virtualMachines/web/instanceView")


def _paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out |= {f"{prefix}{k}"} | _paths(v, f"{prefix}{k}.")
        return out
    if isinstance(value, list) and value:
        return _paths(value[0], prefix)
    return set()


def test_vm_create_request_has_the_published_request_shape(
    vms: AzureVirtualMachines, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    vms.create_instance(InstanceSpec(name="web"))
    ours = fake_server.of("PUT", "/virtualMachines/web")[0].json()
    published = example("azure/compute/examples/VirtualMachine_Create_WithSshAuthentication.json")
    theirs = published["parameters"]["parameters"]
    optional = {  # the example names a disk and a caching mode; both have defaults
        "properties.storageProfile.osDisk.caching",
        "properties.storageProfile.osDisk.name",
    }
    assert _paths(theirs) - optional <= _paths(ours)
    answer = example_response(
        "azure/compute/examples/VirtualMachine_Create_WithSshAuthentication.json", "201"
    )
    assert answer["properties"]["provisioningState"] == "Creating"  # hence the LRO wait


# ------------------------------------------------------------------ SQL Database


def test_default_database_is_valid_for_its_tier(
    sql_only: Any, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    spec = DatabaseSpec(name="orders", engine="sqlserver", password="P@ssw0rd-1")  # 20 GB
    inst = sql_only.create_database(spec)
    put = fake_server.of("PUT", "/databases/orders")[0].json()
    assert put["sku"] == {"name": "S0"} and put["properties"]["maxSizeBytes"] == 20 * 1024**3
    assert (inst.instance_class, inst.storage_gb, inst.status) == ("S0", 20, "available")
    assert fake_server.refused == []


def test_small_database_gets_basic(
    sql_only: Any, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    spec = DatabaseSpec(name="tiny", engine="sqlserver", storage_gb=2, password="P@ssw0rd-1")
    assert sql_only.create_database(spec).instance_class == "Basic"
    put = fake_server.of("PUT", "/databases/tiny")[0].json()
    assert put["sku"] == {"name": "Basic"} and put["properties"]["maxSizeBytes"] == 2 * 1024**3


def test_basic_over_2_gb_is_refused_before_sending(
    sql_only: Any, fake_server: FakeAzureServer
) -> None:
    spec = DatabaseSpec(
        name="big", engine="sqlserver", instance_class="Basic", password="P@ssw0rd-1"
    )
    with pytest.raises(ConfigurationError) as info:
        sql_only.create_database(spec)
    assert "2 GB" in str(info.value) and "Basic" in str(info.value)
    assert fake_server.requests == []


def test_the_fake_refuses_basic_over_2_gb(
    sql_only: Any, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    body = {"location": "westeurope", "properties": {}}
    sql_only.client.servers.begin_create_or_update(
        RESOURCE_GROUP,
        "s1",
        {**body, "properties": {"administratorLogin": "a", "administratorLoginPassword": "b"}},
    ).result()
    with pytest.raises(HttpResponseError) as info:
        sql_only.client.databases.begin_create_or_update(
            RESOURCE_GROUP,
            "s1",
            "d1",
            {**body, "sku": {"name": "Basic"}, "properties": {"maxSizeBytes": 20 * 1024**3}},
        ).result()
    assert "InvalidMaxSizeTierCombination" in str(info.value)


def test_published_database_answer_is_read(sql_only: Any, fake_server: FakeAzureServer) -> None:
    answer = example_response("azure/sql/examples/CreateDatabaseDefaultMode.json")
    replay(
        fake_server,
        "GET",
        r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Sql/servers/[^/]+"
        r"/databases/[^/]+",
        "Databases_Get",
        [(200, {}, answer)],
    )
    inst = sql_only.get_database("testsvr/testdb")
    assert (inst.name, inst.status, inst.instance_class, inst.storage_gb) == (
        "testdb",
        "available",
        "S0",
        1,
    )
    assert inst.region == "southeastasia" and inst.endpoint == "testsvr.database.windows.net"


# ------------------------------------------------------------------ Key Vault

KV = "azure/keyvault/examples/"


def test_published_key_vault_answers_are_read(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    from tests.fakes.azure_keyvault import CHALLENGE

    fake_server.challenge = CHALLENGE
    base = "https://myvault.vault.azure.net"
    replay(
        fake_server,
        "PUT",
        r"/secrets/[^/]+",
        "SetSecret",
        [
            (
                200,
                {},
                with_host(example_response(KV + "SetSecret-example.json"), base, fake_server.url),
            )
        ],
    )
    versions = with_host(
        example_response(KV + "GetSecretVersions-example.json"),
        base + ":443",
        fake_server.url,
    )
    pages = replay(
        fake_server,
        "GET",
        r"/secrets/[^/]+/versions",
        "GetSecretVersions",
        [(200, {}, versions), (200, {}, {"value": [], "nextLink": None})],
    )
    deleted = with_host(example_response(KV + "DeleteSecret-example.json"), base, fake_server.url)
    replay(fake_server, "DELETE", r"/secrets/[^/]+", "DeleteSecret", [(200, {}, deleted)])
    replay(fake_server, "GET", r"/deletedsecrets/[^/]+", "GetDeletedSecret", [(200, {}, deleted)])
    provider = AzureProvider(
        replace(
            fake_provider.settings, key_vault_url=fake_server.url, key_vault_verify_challenge=False
        ),
        credential=fake_provider.credential,
    )
    secrets = provider.get_secrets()
    meta = secrets.set_secret("crpsecret", "mysecretvalue")
    assert meta.name == "crpsecret"
    assert meta.created == datetime.fromtimestamp(1493938459, UTC)
    assert secrets.list_versions("listsecretversionstest") == ["11a536561da34d6b8b452d880df58f3a"]
    assert len(pages) == 2  # the published nextLink was followed
    assert secrets.delete_secret("GetDeletedSecretTest") is True


def test_invalid_secret_name_is_refused_before_sending(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    provider = AzureProvider(
        replace(
            fake_provider.settings, key_vault_url=fake_server.url, key_vault_verify_challenge=False
        ),
        credential=fake_provider.credential,
    )
    with pytest.raises(ConfigurationError) as info:
        provider.get_secrets().set_secret("db_password", "x")
    assert "letters, digits and hyphens" in str(info.value.hint)
    assert fake_server.requests == []


# ------------------------------------------------------------------ Log Analytics, ingestion


def test_published_log_analytics_answer_is_read(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    answer = example_response("azure/loganalytics/examples/oms-post-example.json")
    seen = replay(
        fake_server, "POST", r"/v1/workspaces/[^/]+/query", "Query_Execute", [(200, {}, answer)]
    )
    workspace = MonitorWorkspace(
        fake_provider.credential,
        ingestion_endpoint=fake_server.url,
        rule_id="dcr-1",
        workspace_id="63613592-b6f7-4c3d-a390-22ba13102111",
        query_endpoint=fake_server.url,
        connection_verify=fake_provider.settings.connection_verify,
    )
    rows = workspace.query(
        "Usage | take 10", datetime(2017, 8, 24, tzinfo=UTC), datetime(2017, 8, 25, tzinfo=UTC)
    )
    assert [r["Computer"] for r in rows] == ["ContosoSQLSrv1", "Store010Web3"]
    assert rows[0]["TimeGenerated"] == datetime(2017, 8, 24, 6, 59, 59, tzinfo=UTC)
    assert seen[0].json()["query"] == "Usage | take 10"


def test_uploads_are_sent_as_the_published_request(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    published = example("azure/ingestion/examples/post_IngestUsingDataCollectionRule.json")
    monitor = FakeMonitor(fake_server, "dcr-1", "ws-1")
    provider = AzureProvider(
        replace(
            fake_provider.settings,
            ingestion_endpoint=fake_server.url,
            dcr_rule_id="dcr-1",
            logs_workspace_id="ws-1",
            logs_query_endpoint=fake_server.url,
        ),
        credential=fake_provider.credential,
    )
    logs = provider.get_logging()
    logs.write_entries([LogEntry(datetime.now(UTC), "hello", "INFO", "app", {"k": "v"})])
    (sent,) = fake_server.of("POST", "/dataCollectionRules/dcr-1/streams/")
    params = published["parameters"]
    assert sent.headers["content-encoding"] == params["Content-Encoding"]
    assert sent.headers["content-type"].startswith(params["Content-Type"])
    assert sent.query["api-version"] == params["api-version"]
    assert isinstance(json.loads(gzip.decompress(sent.body)), list)
    assert list(monitor.tables) == ["SpecifyLogs_CL"]


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def vms_only(fake_provider: AzureProvider) -> AzureVirtualMachines:
    """The VM adapter on a server that serves only what each test replays."""
    return fake_provider.get_compute()


@pytest.fixture
def sql_only(fake_provider: AzureProvider) -> Any:
    return fake_provider.get_database()


@pytest.fixture
def vms(fake_provider: AzureProvider, arm: FakeResourceManager) -> AzureVirtualMachines:
    """The VM adapter on the contract fake of Resource Manager."""
    return fake_provider.get_compute()


def test_database_create_follows_the_published_long_running_operation(
    fake_server: FakeAzureServer, fake_provider: AzureProvider
) -> None:
    """Databases_CreateOrUpdate answers 202 with a Location (the example's); the adapter
    polls it until it answers the database (the example's 200 answer)."""
    published = example("azure/sql/examples/CreateDatabaseDefaultMode.json")
    location = fake_server.url + published["responses"]["202"]["headers"]["Location"]
    sql = r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Sql"
    server_body = {
        "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
        "Microsoft.Sql/servers/orders",
        "name": "orders",
        "location": "westeurope",
        "properties": {"provisioningState": "Succeeded", "state": "Ready"},
    }
    replay(
        fake_server,
        "PUT",
        sql + r"/servers/[^/]+",
        "Servers_CreateOrUpdate",
        [(200, {}, server_body)],
    )
    puts = replay(
        fake_server,
        "PUT",
        sql + r"/servers/[^/]+/databases/[^/]+",
        "Databases_CreateOrUpdate",
        [(202, {"Location": location, "Retry-After": "0"}, None)],
    )
    polls = replay(
        fake_server,
        "GET",
        sql + r"/locations/[^/]+/databaseOperationResults/[^/]+",
        "SQL_DatabaseOperationResult",
        [
            (202, {"Location": location, "Retry-After": "0"}, None),
            (200, {}, published["responses"]["200"]["body"]),
        ],
    )
    inst = fake_provider.get_database().create_database(
        DatabaseSpec(name="orders", engine="sqlserver", password="P@ssw0rd-1")
    )
    assert len(puts) == 1 and len(polls) == 2
    assert (inst.status, inst.instance_class, inst.storage_gb) == ("available", "S0", 1)
