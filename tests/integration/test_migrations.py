"""Migrations replayed on an empty database give exactly projector/schema.sql."""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import asyncpg
import pytest

from orderstate.api import reads
from orderstate.domain import PolicyBook
from orderstate.projector import migrate
from orderstate.projector.apply import apply_batch
from tests.support import databases
from tests.support.events import created, event, incoming, state
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


async def test_migration_8_starts_the_event_log_with_the_outboxs_order_events(
    database_url: str,
) -> None:
    """The order events still in the outbox become the log's first rows, each with the
    history length of its moment, so as_of works for the last outbox retention period."""
    conn = await asyncpg.connect(database_url)
    try:
        # The release before migration 12 wrote the text into every outbox row.
        await conn.execute("UPDATE outbox_form SET by_reference = false")
        for n, ev in enumerate(
            (
                created(order="O-1"),
                state("paid", order="O-1"),
                state("in_production", order="O-1", minutes=2),
            )
        ):
            # A batch per event, a minute apart: the recorded times differ.
            now = datetime(2026, 3, 2, 10, n, tzinfo=UTC)
            await apply_batch(conn, [incoming(ev)], policies=PolicyBook(), now=now)
        await apply_batch(
            conn, [incoming(created(order="O-2"))], policies=PolicyBook(), now=datetime.now(UTC)
        )
        logged = await conn.fetch(
            "SELECT order_id, sequence, event_id, type, event, history_len FROM order_events "
            "ORDER BY xid, position"
        )
        # As migration 8 found the database: no log, the outbox as the release before wrote it.
        await conn.execute("DROP TABLE order_events")
        await conn.execute("DELETE FROM outbox WHERE order_id = 'O-2'")
        folder = resources.files("orderstate.projector") / "migrations"
        await conn.execute((folder / "0008_order_event_log.sql").read_text())
        seeded = await conn.fetch(
            "SELECT order_id, sequence, event_id, type, event, history_len, recorded_at "
            "FROM order_events ORDER BY xid, position"
        )
        created_at = await conn.fetch(
            "SELECT created_at FROM outbox WHERE topic_role = 'order_events_out' ORDER BY id"
        )
    finally:
        await conn.close()
    assert [tuple(r)[:6] for r in seeded] == [tuple(r) for r in logged if r["order_id"] == "O-1"]
    assert [r["history_len"] for r in seeded] == [1, 2, 3]
    assert [r["recorded_at"] for r in seeded] == [r["created_at"] for r in created_at]


async def test_migration_9_keeps_the_offsets_the_views_held(database_url: str) -> None:
    """Before migration 9 the view's JSON held the history with each time's UTC offset; the
    new column takes them over, so states_history still shows the times as sent."""
    berlin = timezone(timedelta(hours=2))
    conn = await asyncpg.connect(database_url)
    try:
        for ev in (
            created(order_date="2026-03-02T10:00:00+02:00"),
            event("order.state_changed", {"state": "paid", "occurred_at": "2026-03-02T11:00Z"}),
            event(
                "order.state_changed",
                {"state": "in_production", "occurred_at": "2026-03-02T14:00:00+02:00"},
            ),
        ):
            await apply_batch(conn, [incoming(ev)], policies=PolicyBook(), now=datetime.now(UTC))
        rows = await conn.fetch(
            "SELECT seq, state, occurred_at, recorded_at, cause_event_id, late, location, "
            "occurred_offset_s FROM order_state_history ORDER BY seq"
        )
        assert [r["occurred_offset_s"] for r in rows] == [7200, 0, 7200]
        # As migration 9 found the database: the entries in the view, no offset column.
        sent = {1: berlin, 2: UTC, 3: berlin}
        entries = [
            {
                "state": r["state"],
                "occurred_at": r["occurred_at"].astimezone(sent[r["seq"]]).isoformat(),
                "recorded_at": r["recorded_at"].isoformat(),
                "cause_event_id": r["cause_event_id"],
                "late": r["late"],
                "location": r["location"],
            }
            for r in rows
        ]
        await conn.execute("DROP INDEX order_state_history_moment")
        await conn.execute("ALTER TABLE order_state_history DROP COLUMN occurred_offset_s")
        await conn.execute(
            "UPDATE orders SET view = (view::jsonb - 'history_length' - 'created_in' "
            "- 'created_by' - 'completed_once' || jsonb_build_object('history', $1::jsonb))::text",
            json.dumps(entries),
        )
        folder = resources.files("orderstate.projector") / "migrations"
        await conn.execute((folder / "0009_history_out_of_view.sql").read_text())

        offsets = await conn.fetch("SELECT occurred_offset_s FROM order_state_history ORDER BY seq")
        view = await reads.get_order(conn, "shop-1", "ORD-1")
    finally:
        await conn.close()
    assert [r["occurred_offset_s"] for r in offsets] == [7200, 0, 7200]
    assert view is not None
    assert [h.occurred_at.isoformat() for h in view.history] == [
        "2026-03-02T10:00:00+02:00",
        "2026-03-02T11:00:00+00:00",
        "2026-03-02T14:00:00+02:00",
    ]
    assert (view.history_length, view.created_in) == (3, "new")


async def test_migration_10_keeps_the_old_view_form_where_orders_exist(
    database_url: str,
) -> None:
    """Pods of a release before 0009 may run beside the new ones during the upgrade: a
    database with orders keeps storing views with their entries; an empty one does not."""
    conn = await asyncpg.connect(database_url)
    try:
        empty = await conn.fetchval("SELECT with_history FROM view_form")
        await apply_batch(conn, [incoming(created())], policies=PolicyBook(), now=datetime.now(UTC))
        await conn.execute("DROP TABLE view_form")
        folder = resources.files("orderstate.projector") / "migrations"
        await conn.execute((folder / "0010_view_form.sql").read_text())
        with_orders = await conn.fetchval("SELECT with_history FROM view_form")
    finally:
        await conn.close()
    assert (empty, with_orders) == (False, True)
