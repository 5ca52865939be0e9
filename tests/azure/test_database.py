"""Azure SQL Database through the fake Resource Manager."""

from __future__ import annotations

import pytest

from providers.azure.database import AzureSqlDatabase
from providers.azure.provider import AzureProvider
from providers.base import CloudDatabase, DatabaseSpec
from providers.errors import ConfigurationError, NotFoundError
from tests.fakes.azure_arm import FakeResourceManager
from tests.fakes.azure_https import FakeAzureServer

PASSWORD = "Sup3r-secret-pw!"


@pytest.fixture
def sql(fake_provider: AzureProvider, arm: FakeResourceManager) -> AzureSqlDatabase:
    db = fake_provider.get_database()
    assert isinstance(db, AzureSqlDatabase)
    return db


def test_create_get_list_delete(
    sql: AzureSqlDatabase, arm: FakeResourceManager, fake_server: FakeAzureServer
) -> None:
    assert isinstance(sql, CloudDatabase)
    spec = DatabaseSpec(
        name="orders",
        engine="sqlserver",
        instance_class="S0",
        storage_gb=2,
        username="dbadmin",
        password=PASSWORD,
        tags={"team": "a"},
    )
    inst = sql.create_database(spec)
    assert inst.database_id == "orders/orders" and inst.status == "available"
    assert inst.endpoint == "orders.database.windows.net" and inst.port == 1433
    assert (inst.instance_class, inst.storage_gb, inst.tags) == ("S0", 2, {"team": "a"})
    assert PASSWORD not in repr(inst)
    server_put = fake_server.of("PUT", "/Microsoft.Sql/servers/orders")[0].json()
    assert server_put["properties"]["administratorLogin"] == "dbadmin"
    db_put = fake_server.of("PUT", "/servers/orders/databases/orders")[0].json()
    assert db_put["sku"] == {"name": "S0"} and db_put["properties"]["maxSizeBytes"] == 2 * 1024**3
    assert sorted(r["type"] for r in arm.resources.values()) == [
        "Microsoft.Sql/servers",
        "Microsoft.Sql/servers/databases",
    ]

    assert sql.get_database("orders/orders").status == "available"
    assert sql.wait_until_available("orders/orders", timeout=5).name == "orders"
    assert [d.database_id for d in sql.list_databases()] == ["orders/orders"]

    assert sql.delete_database("orders/orders") is True
    assert arm.resources == {}  # the server created for it went too
    assert sql.delete_database("orders/orders") is False
    with pytest.raises(NotFoundError) as info:
        sql.get_database("orders/orders")
    assert "rg-specify" in str(info.value)


def test_bad_specs_are_refused_before_any_call(
    sql: AzureSqlDatabase, fake_server: FakeAzureServer
) -> None:
    with pytest.raises(ConfigurationError):
        sql.create_database(DatabaseSpec(name="x", engine="postgres", password=PASSWORD))
    with pytest.raises(ConfigurationError):
        sql.create_database(DatabaseSpec(name="x", engine="sqlserver"))
    with pytest.raises(ConfigurationError):
        sql.get_database("no-slash")
    assert fake_server.requests == []
