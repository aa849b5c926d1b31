"""Migrations replayed on an empty database give exactly projector/schema.sql."""

import uuid
from importlib import resources

import asyncpg
import pytest

from orderstate.projector import migrate
from tests.support import databases
from tests.support.infra import Endpoints

_CATALOG = """
SELECT 'column' AS kind, table_name || '.' || column_name AS name,
       concat_ws(' ', data_type, character_maximum_length, numeric_precision, numeric_scale,
                 is_nullable, column_default, is_identity, ordinal_position) AS definition
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass || '.' || conname, pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


async def _catalog(url: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(_CATALOG)
    finally:
        await conn.close()
    return [tuple(r) for r in rows if "schema_migrations" not in r["name"]]


@pytest.fixture
async def two_empty_databases(endpoints: Endpoints):  # type: ignore[no-untyped-def]
    names = [f"orderstate_schema_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        await databases.create_empty(endpoints.database_url, name)
    yield [databases.with_database(endpoints.database_url, n) for n in names]
    for name in names:
        await databases.drop_database(endpoints.database_url, name)


async def test_migrations_produce_the_committed_schema(two_empty_databases: list[str]) -> None:
    migrated, from_schema = two_empty_databases
    conn = await asyncpg.connect(migrated)
    try:
        applied = await migrate.migrate(conn)
    finally:
        await conn.close()
    assert [m.version for m in applied] == list(range(1, migrate.head() + 1))

    schema_sql = (resources.files("orderstate.projector") / "schema.sql").read_text()
    conn = await asyncpg.connect(from_schema)
    try:
        await conn.execute(schema_sql)
    finally:
        await conn.close()
    assert await _catalog(migrated) == await _catalog(from_schema)


async def test_migrate_twice_applies_nothing_the_second_time(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await migrate.migrate(conn) == []
        assert max(await migrate.applied_versions(conn)) == migrate.head()
    finally:
        await conn.close()


async def test_an_edited_applied_migration_stops_the_run(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(migrate.MigrationError, match="was changed after it was applied"):
            await migrate.migrate(conn)
    finally:
        await conn.close()
