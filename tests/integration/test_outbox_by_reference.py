"""Order events' outbox rows by reference (migration 0012): the row holds the event's sequence,
the order event log row holds the text, and the relay publishes the same event either way."""

from datetime import UTC, datetime
from importlib import resources

import asyncpg
import pytest
from pydantic import SecretStr

from orderstate.domain import PolicyBook
from orderstate.projector.apply import apply_batch
from orderstate.projector.write_forms import fill_outbox_text
from orderstate.relay.outbox_relay import Relay
from orderstate.settings import Settings
from tests.support.events import created, incoming, record, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import (
    consume_until,
    produce,
    relay_started,
    running,
    settings_for,
    wait_for,
)
from tests.support.processes import orderstate

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

_NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
_ROWS = (
    "SELECT o.topic_role, o.sequence, o.event, l.event AS logged "
    "FROM outbox o LEFT JOIN order_events l "
    "ON l.shop_id = o.shop_id AND l.order_id = o.order_id AND l.sequence = o.sequence "
    "ORDER BY o.id"
)


async def _apply_three(conn: asyncpg.Connection) -> None:
    """Two accepted changes of one order and a refused one (a refund before a return or a
    cancellation)."""
    for ev in (created(), state("paid"), state("refunded", minutes=2)):
        await apply_batch(conn, [incoming(ev)], policies=PolicyBook(), now=_NOW)


async def test_a_new_database_writes_order_events_by_reference_and_rejections_with_text(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        by_reference = await conn.fetchval("SELECT by_reference FROM outbox_form")
        await _apply_three(conn)
        rows = await conn.fetch(_ROWS)
    finally:
        await conn.close()
    assert by_reference is True
    events = [r for r in rows if r["topic_role"] == "order_events_out"]
    rejections = [r for r in rows if r["topic_role"] == "rejected_out"]
    assert [(r["sequence"], r["event"]) for r in events] == [(1, None), (2, None)]
    assert all(r["logged"] and '"sequence":' in r["logged"] for r in events)
    assert len(rejections) == 1
    assert rejections[0]["sequence"] is None and '"event.rejected"' in rejections[0]["event"]


async def test_with_the_text_form_every_row_holds_the_text_the_log_holds(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE outbox_form SET by_reference = false")
        await _apply_three(conn)
        rows = await conn.fetch(_ROWS)
    finally:
        await conn.close()
    events = [r for r in rows if r["topic_role"] == "order_events_out"]
    assert [r["sequence"] for r in events] == [1, 2]
    assert all(r["event"] is not None and r["event"] == r["logged"] for r in events)


async def test_the_outbox_may_not_hold_a_row_without_text_or_log_key(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, created_at) "
                "VALUES ('rejected_out', 1, 'shop-1', 'ORD-1', 'e-1', now())"
            )
    finally:
        await conn.close()


async def test_migration_12_keeps_writing_the_text_where_orders_exist(database_url: str) -> None:
    """Relays of a release before 0012 may run beside the new workers during the upgrade."""
    conn = await asyncpg.connect(database_url)
    try:
        empty = await conn.fetchval("SELECT by_reference FROM outbox_form")
        await apply_batch(conn, [incoming(created())], policies=PolicyBook(), now=_NOW)
        await conn.execute(
            "DROP TABLE outbox_form; ALTER TABLE outbox DROP CONSTRAINT outbox_text_or_log_row;"
            "ALTER TABLE outbox DROP COLUMN sequence"
        )
        # Rows written before 0012 hold their text: as a release before it wrote them.
        await conn.execute("UPDATE outbox SET event = '{}' WHERE event IS NULL")
        folder = resources.files("orderstate.projector") / "migrations"
        await conn.execute((folder / "0012_outbox_by_reference.sql").read_text())
        with_orders = await conn.fetchval("SELECT by_reference FROM outbox_form")
    finally:
        await conn.close()
    assert (empty, with_orders) == (True, False)


async def test_switching_the_outbox_form_fills_unsent_rows_and_says_what_it_did(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await _apply_three(conn)
        # The first order event went out already: only unsent rows need their text back.
        await conn.execute(
            "UPDATE outbox SET sent_at = now() WHERE topic_role = 'order_events_out' "
            "AND sequence = 1"
        )
        settings = Settings(database_url=SecretStr(database_url))
        code, out, err = await orderstate(settings, "migrate", "--outbox-with-text")
        form_after_fill = await conn.fetchval("SELECT by_reference FROM outbox_form")
        rows = await conn.fetch(_ROWS)
        back = await orderstate(settings, "migrate", "--outbox-by-reference")
        form_after_back = await conn.fetchval("SELECT by_reference FROM outbox_form")
        both = await orderstate(settings, "migrate", "--outbox-by-reference", "--outbox-with-text")
        # A database before migration 12 has no form to switch.
        await conn.execute("DELETE FROM schema_migrations WHERE version >= 12")
        early = await orderstate(settings, "migrate", "--outbox-with-text")
    finally:
        await conn.close()
    assert (code, out.strip()) == (
        0,
        "outbox rows are written with their text from now on, and 1 unsent row got theirs: a "
        "relay of a release before migration 0012 can publish them",
    ), err
    events = [r for r in rows if r["topic_role"] == "order_events_out"]
    assert [(r["sequence"], r["event"] == r["logged"]) for r in events] == [
        (1, False),
        (2, True),
    ]
    assert events[0]["event"] is None
    assert (form_after_fill, form_after_back) == (False, True)
    assert (back[0], back[1].strip()) == (
        0,
        "order events' outbox rows are written without their text from now on; every relay "
        "must run a release from migration 0012 on",
    )
    assert (both[0], both[2].strip()) == (
        1,
        "orderstate: --outbox-by-reference and --outbox-with-text cannot be given together: "
        "each is a step of its own",
    )
    assert (early[0], early[2].strip()) == (
        1,
        "orderstate: the database is at migration 11: outbox rows hold their text until "
        "migration 12; run `orderstate migrate` first",
    )


async def test_a_row_whose_log_row_is_missing_is_dead_lettered_and_its_order_waits(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    # M's first order event lost its log row (a hand edit): the relay cannot publish it. It
    # sets it aside with the reason; M's second event waits behind it; other orders go on.
    settings = settings_for(kafka_bootstrap, database_url, topics)
    records = [
        record(created(order="M")),
        record(state("paid", order="M")),
        *(record(created(order=f"O-{n}")) for n in range(5)),
    ]
    async with running(settings, relays=0) as pipeline:
        await produce(kafka_bootstrap, topics.orders, records)

        async def all_in() -> bool:
            conn = await asyncpg.connect(database_url)
            try:
                return bool(await conn.fetchval("SELECT count(*) FROM outbox") >= 7)
            finally:
                await conn.close()

        await wait_for(all_in, timeout_s=60)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM order_events WHERE order_id = 'M' AND sequence = 1")
            task = await relay_started(Relay(settings, pipeline.pool, stop=pipeline.stop))
            out = await consume_until(
                kafka_bootstrap, topics.order_events, lambda s: len(s) >= 5, timeout_s=60
            )

            async def dead() -> bool:
                return bool(
                    await conn.fetchval("SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL")
                )

            await wait_for(dead, timeout_s=30)
            pipeline.stop.set()
            assert await task == 0
            rows = await conn.fetch(
                "SELECT sequence, sent_at, dead_at, dead_reason FROM outbox "
                "WHERE order_id = 'M' ORDER BY sequence"
            )
        finally:
            await conn.close()
    assert sorted(p.key for p in out) == sorted(f"shop-1:O-{n}" for n in range(5))
    first, second = rows
    assert first["dead_at"] is not None and first["sent_at"] is None
    assert first["dead_reason"].startswith("LogRowMissing: outbox row ")
    assert "its order event log row (order_events of shop-1:M) is missing" in first["dead_reason"]
    assert second["sent_at"] is None and second["dead_at"] is None


async def test_the_text_is_filled_in_chunks_and_a_missing_log_row_is_counted(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    chunks: list[int] = []
    try:
        for n in range(3):
            for ev in (created(order=f"C-{n}"), state("paid", order=f"C-{n}")):
                await apply_batch(conn, [incoming(ev)], policies=PolicyBook(), now=_NOW)
        await conn.execute("DELETE FROM order_events WHERE order_id = 'C-1' AND sequence = 2")
        filled, missing = await fill_outbox_text(conn, chunks.append, chunk=4)
        rows = await conn.fetch(_ROWS)
    finally:
        await conn.close()
    assert (filled, missing) == (5, 1)
    assert chunks == [4, 2]
    without = [(r["sequence"], r["logged"]) for r in rows if r["event"] is None]
    assert without == [(2, None)]
