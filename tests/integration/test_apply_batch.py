"""apply_batch against a real PostgreSQL: one behaviour per test."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from orderstate.domain import PolicyBook
from orderstate.events.decode import decode_record
from orderstate.events.errors import DecodeError
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.projector.apply import BatchResult, OutcomeKind, apply_batch
from orderstate.projector.inputs import Incoming, Input, Malformed, Passed, Position
from orderstate.projector.queries import QUERIES
from orderstate.projector.write_statement import PARTS, is_write_statement, statement_with
from tests.support.events import T0, created, event, incoming, logged, shipment, state
from tests.support.outbox_text import OUTBOX

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
POLICIES = PolicyBook()


@pytest.fixture
async def conn(database_url: str):  # type: ignore[no-untyped-def]
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def _apply(conn: asyncpg.Connection, *items: Input, group: str | None = None) -> BatchResult:
    return await apply_batch(conn, list(items), policies=POLICIES, now=NOW, consumer_group=group)


async def _table(conn: asyncpg.Connection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await conn.fetch(sql)]


async def test_created_order_writes_view_items_history_and_outbox(conn: asyncpg.Connection) -> None:
    result = await _apply(conn, incoming(created()), incoming(state("paid")))
    assert [o.kind for o in result.outcomes] == [OutcomeKind.APPLIED, OutcomeKind.APPLIED]
    assert await _table(conn, "SELECT order_id, state, version, payment_evidence FROM orders") == [
        ("ORD-1", "paid", 2, True)
    ]
    assert await _table(
        conn, "SELECT item_id, sku, quantity, unit_price::text FROM order_items"
    ) == [("l1", "SKU-1", 1, "9.9900")]
    assert await _table(conn, "SELECT seq, state, late FROM order_state_history ORDER BY seq") == [
        (1, "new", False),
        (2, "paid", False),
    ]
    assert await _table(
        conn,
        "SELECT topic_role, event::jsonb->>'type', (event::jsonb->>'sequence')::int "  # noqa: S608 -- a fixed fragment
        f"FROM {OUTBOX} ORDER BY id",
    ) == [
        ("order_events_out", "order.state_changed", 1),
        ("order_events_out", "order.state_changed", 2),
    ]
    assert await conn.fetchval("SELECT count(*) FROM processed_events") == 2


async def test_a_time_far_from_utc_is_stored_at_its_instant_with_its_offset(
    conn: asyncpg.Connection,
) -> None:
    # RFC 3339 allows offsets up to 23:59; PostgreSQL reads a time with at most 15:59 from text.
    # The write statement sends times in binary (an instant, the offset in its own column). A
    # trial that sent the history as JSON text sent this offset as written, and PostgreSQL
    # refused the whole batch (a 500 for a REST write; bench/results-worker-cost.md).
    far = "2026-03-02T10:15:17.2955-21:11"
    result = await _apply(
        conn,
        incoming(created()),
        incoming(event("order.state_changed", {"state": "paid", "occurred_at": far})),
    )

    assert [o.kind for o in result.outcomes] == [OutcomeKind.APPLIED, OutcomeKind.APPLIED]
    assert await _table(
        conn, "SELECT state, occurred_at, occurred_offset_s FROM order_state_history WHERE seq = 2"
    ) == [("paid", datetime.fromisoformat(far).astimezone(UTC), -(21 * 3600 + 11 * 60))]


async def test_redelivered_batch_changes_nothing(conn: asyncpg.Connection) -> None:
    batch = [incoming(created()), incoming(state("paid")), incoming(shipment())]
    await _apply(conn, *batch)
    snapshot = await _table(conn, "SELECT view::text FROM orders")
    outbox = await conn.fetchval("SELECT count(*) FROM outbox")

    again = await _apply(conn, *batch)
    assert [o.kind for o in again.outcomes] == [OutcomeKind.DUPLICATE] * 3
    assert await _table(conn, "SELECT view::text FROM orders") == snapshot
    assert await conn.fetchval("SELECT count(*) FROM outbox") == outbox


async def test_same_event_twice_in_one_batch_applies_once(conn: asyncpg.Connection) -> None:
    paid = incoming(state("paid"))
    result = await _apply(conn, incoming(created()), paid, paid)
    assert [o.kind for o in result.outcomes][1:] == [OutcomeKind.APPLIED, OutcomeKind.DUPLICATE]
    assert await conn.fetchval("SELECT version FROM orders") == 2


async def test_shipment_before_its_order_is_parked_then_applied(conn: asyncpg.Connection) -> None:
    first = await _apply(conn, logged(shipment("S1"), 0))
    assert [o.kind for o in first.outcomes] == [OutcomeKind.PARKED]
    assert await conn.fetchval("SELECT count(*) FROM parked_events") == 1

    second = await _apply(conn, logged(created(), 0))
    assert second.unparked == 1
    assert await conn.fetchval("SELECT count(*) FROM parked_events") == 0
    assert await _table(conn, "SELECT state, version FROM orders") == [("shipped", 2)]
    assert await _table(conn, "SELECT shipment_id, direction FROM order_shipments") == [
        ("S1", "outbound")
    ]


async def test_shipment_parked_and_order_created_in_one_batch(conn: asyncpg.Connection) -> None:
    result = await _apply(conn, logged(shipment("S1"), 0), logged(created(), 0))
    assert [o.kind for o in result.outcomes] == [OutcomeKind.PARKED, OutcomeKind.APPLIED]
    assert result.unparked == 1
    assert await conn.fetchval("SELECT count(*) FROM parked_events") == 0
    assert await conn.fetchval("SELECT state FROM orders") == "shipped"
    assert await _table(conn, "SELECT outcome FROM processed_events ORDER BY outcome") == [
        ("applied",),
        ("parked_then_applied",),
    ]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def test_parked_shipment_expires_when_its_pairs_log_clock_passes_the_deadline(
    conn: asyncpg.Connection,
) -> None:
    """The deadline is on the pair's log clock: the wall clock (``now``) plays no part, so a
    replay expires the event at the same input."""
    await _apply(conn, logged(shipment("S9", order="ORD-NEVER"), 0))
    # 23 h later on another partition pair: not this pair's stream.
    other = logged(created(order="ORD-X"), 0, partition=1, time_ms=_ms(T0 + timedelta(days=2)))
    assert (await _apply(conn, other)).expired == 0
    # 23 h later on the same pair: not yet.
    soon = logged(created(order="ORD-Y"), 1, time_ms=_ms(T0 + timedelta(hours=23)))
    assert (await _apply(conn, soon)).expired == 0
    day = _ms(T0 + timedelta(days=1))
    late = Passed(Position("shop.orders.v1", 0, 2, day, day, day), "marker")
    result = await _apply(conn, late)
    assert result.expired == 1
    assert await _table(conn, "SELECT order_id, reason FROM rejected_events") == [
        ("ORD-NEVER", "unknown_order")
    ]
    assert (
        await conn.fetchval(
            "SELECT event::jsonb->'data'->>'reason' FROM outbox WHERE topic_role = 'rejected_out'"
        )
        == "unknown_order"
    )
    assert (
        await conn.fetchval(
            "SELECT outcome FROM processed_events WHERE event_id LIKE 'evt-%' "
            "AND order_id = 'ORD-NEVER'"
        )
        == "parked_then_expired"
    )
    assert await conn.fetchval("SELECT count(*) FROM parked_events") == 0


async def test_an_event_parked_again_after_its_deadline_replaces_its_parked_row(
    conn: asyncpg.Connection,
) -> None:
    """Retention removes processed rows after 30 days, so a parked event that comes again
    after its deadline is not a duplicate: its stored row expires and it is parked anew, in
    one batch. The batch's one write statement cannot delete and insert the same key."""
    ship = shipment("S9", order="ORD-NEVER")
    await _apply(conn, logged(ship, 0))
    await conn.execute("DELETE FROM processed_events")
    day = _ms(T0 + timedelta(days=1))

    result = await _apply(conn, logged(ship, 7, time_ms=day))

    assert result.expired == 1
    assert [o.kind for o in result.outcomes] == [OutcomeKind.PARKED]
    assert await _table(conn, "SELECT event_id, source_offset, due_ms FROM parked_events") == [
        (ship.id, 7, day + 24 * 3600 * 1000)
    ]
    assert await _table(conn, "SELECT order_id, reason FROM rejected_events") == [
        ("ORD-NEVER", "unknown_order")
    ]


async def test_parked_events_of_one_order_replay_in_the_order_they_came(
    conn: asyncpg.Connection,
) -> None:
    """A status change parked beside its shipment.created must not be decided first and lost
    as unknown_shipment (its event id sorts before the creation's)."""
    status = event(
        "shipment.status_changed",
        {"shipment_id": "S1", "status": "in_transit"},
        event_id="evt-a-status",
        minutes=2,
    )
    link = event(
        "shipment.created", {"shipment_id": "S1", "direction": "outbound"}, event_id="evt-z-link"
    )
    await _apply(conn, logged(link, 10), logged(status, 11))
    result = await _apply(conn, logged(created(), 0))
    assert result.unparked == 2
    assert await conn.fetchval("SELECT count(*) FROM rejected_events") == 0
    assert await _table(conn, "SELECT shipment_id, status FROM order_shipments") == [
        ("S1", "in_transit")
    ]


async def test_rejected_transition_is_recorded_and_published(conn: asyncpg.Connection) -> None:
    await _apply(conn, incoming(created()), incoming(shipment()))
    result = await _apply(conn, incoming(state("cancelled", minutes=5)))
    assert result.outcomes[0].reason is not None
    assert result.outcomes[0].reason.value == "cancel_after_shipment"
    assert await _table(conn, "SELECT reason, event_type FROM rejected_events") == [
        ("cancel_after_shipment", "order.state_changed")
    ]
    published = await conn.fetchrow(
        "SELECT topic_role, event FROM outbox WHERE topic_role = 'rejected_out'"
    )
    assert published is not None
    assert json.loads(published["event"])["data"]["reason"] == "cancel_after_shipment"
    assert await conn.fetchval("SELECT state FROM orders") == "shipped"


async def test_malformed_record_becomes_a_malformed_rejection(conn: asyncpg.Connection) -> None:
    position = Position("shop.orders.v1", 2, 41)
    with pytest.raises(DecodeError) as caught:
        decode_record(
            key=b"shop-1:ORD-1", value=b"{not json", headers=[], topic_role=TopicRole.ORDERS_IN
        )
    bad = Malformed(
        error=caught.value,
        original=RejectedOriginal(
            topic=position.topic, partition=2, offset=41, key="shop-1:ORD-1", value="{not json"
        ),
        position=position,
    )
    result = await _apply(
        conn, bad, incoming(created(), Position("shop.orders.v1", 2, 42)), group="g1"
    )
    assert [o.kind for o in result.outcomes] == [OutcomeKind.MALFORMED, OutcomeKind.APPLIED]
    assert await _table(conn, "SELECT shop_id, order_id, reason FROM rejected_events") == [
        ("shop-1", "ORD-1", "malformed")
    ]
    assert await _table(conn, "SELECT topic, partition, next_offset FROM consumer_offsets") == [
        ("shop.orders.v1", 2, 43)
    ]


async def test_rest_write_is_appended_to_the_inbound_log(conn: asyncpg.Connection) -> None:
    ev = created()
    rest = Incoming(
        decoded=incoming(ev).decoded, topic_role=TopicRole.ORDERS_IN, append_to_log=True
    )
    await _apply(conn, rest)
    roles = await _table(conn, "SELECT topic_role, event_id FROM outbox ORDER BY id")
    assert ("orders_in", ev.id) in roles
    # The worker will meet this event on the inbound topic and must skip it.
    replay = await _apply(conn, incoming(ev))
    assert replay.outcomes[0].kind is OutcomeKind.DUPLICATE


async def test_concurrent_batches_on_the_same_orders_do_not_deadlock(database_url: str) -> None:
    setup = await asyncpg.connect(database_url)
    orders = [f"ORD-{n}" for n in range(20)]
    await apply_batch(
        setup, [incoming(created(order=o)) for o in orders], policies=POLICIES, now=NOW
    )
    await setup.close()

    async def writer(names: list[str], state_name: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for _ in range(5):
                batch = [
                    incoming(event("order.tags_set", {"order_tags": {"w": state_name}}, order=o))
                    for o in names
                ]
                await apply_batch(conn, batch, policies=POLICIES, now=NOW)
        finally:
            await conn.close()

    async with asyncio.timeout(30):
        await asyncio.gather(writer(orders, "a"), writer(list(reversed(orders)), "b"))
    check = await asyncpg.connect(database_url)
    try:
        # 1 creation + 10 tag changes per order, whatever the interleaving.
        assert await check.fetchval("SELECT min(version) FROM orders") == 11
        assert await check.fetchval("SELECT max(version) FROM orders") == 11
    finally:
        await check.close()


async def test_a_batch_writes_its_append_only_rows_in_one_statement(
    conn: asyncpg.Connection,
) -> None:
    # Each of these tables was a round trip of its own; a small batch (a few events at 1,000
    # events/s) spent most of its time waiting for them.
    appended = ("processed_events", "rejected_events", "outbox", "order_events", "consumer_offsets")
    statements: list[str] = []
    conn.add_query_logger(lambda logged: statements.append(logged.query))
    result = await _apply(
        conn,
        logged(created(), 0),
        logged(state("refunded"), 1),
        group="g1",
    )
    assert [o.kind for o in result.outcomes] == [OutcomeKind.APPLIED, OutcomeKind.REJECTED]
    await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    writing = [s for s in statements if any(f"INSERT INTO {t} " in s for t in appended)]
    assert len(writing) == 1
    for table in appended:
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") >= 1, table  # noqa: S608


async def test_a_batch_reads_in_two_statements_and_writes_in_one(conn: asyncpg.Connection) -> None:
    # At a paced rate a batch holds an event or two, and each round trip cost the worker and
    # PostgreSQL more than deciding the event (bench/results-batch-cost.md): the locks, then
    # every read, then every write, whatever the batch holds. A parked shipment, a
    # redelivered event, a state change that asks the history and a new order with items are
    # all in the second batch, which writes to every table the worker writes.
    await _apply(conn, logged(created(), 0), logged(shipment(order="ORD-2"), 1), group="g1")
    names: list[str] = []
    by_text = {sql: name for name, sql in QUERIES.items()}
    conn.add_query_logger(
        lambda logged: names.append(
            "write_batch" if is_write_statement(logged.query) else by_text.get(logged.query, "?")
        )
    )
    result = await _apply(
        conn,
        logged(created(), 0),
        logged(state("paid"), 2),
        logged(created(order="ORD-2"), 3),
        group="g1",
    )
    await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    assert [o.kind for o in result.outcomes] == [
        OutcomeKind.DUPLICATE,
        OutcomeKind.APPLIED,
        OutcomeKind.APPLIED,
    ]
    assert result.unparked == 1
    named = [n for n in names if n != "?"]
    assert named == ["lock_batch_orders", "batch_reads", "write_batch"]
    assert await _table(conn, "SELECT order_id, state, version FROM orders ORDER BY order_id") == [
        ("ORD-1", "paid", 2),
        ("ORD-2", "shipped", 2),
    ]
    assert await _table(conn, "SELECT order_id, item_id FROM order_items ORDER BY order_id") == [
        ("ORD-1", "l1"),
        ("ORD-2", "l1"),
    ]
    assert await _table(conn, "SELECT order_id FROM order_shipments") == [("ORD-2",)]
    assert await conn.fetchval("SELECT count(*) FROM parked_events") == 0
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM processed_events WHERE outcome = 'parked_then_applied'"
        )
        == 1
    )


async def test_changed_items_are_stored_as_the_view_holds_them(conn: asyncpg.Connection) -> None:
    # Items and shipments are written in the batch's one statement, where a DELETE and an
    # INSERT of the same keys would collide: what an order no longer holds is deleted, the
    # rest upserted. The table must end as the view's list, positions included.
    items = [
        {"item_id": n, "sku": f"SKU-{n}", "quantity": 1, "unit_price": "1.00", "currency": "EUR"}
        for n in ("l1", "l2", "l3")
    ]
    await _apply(conn, incoming(created(items=items)))
    result = await _apply(
        conn,
        incoming(event("order.item_removed", {"item_id": "l1"})),
        incoming(event("order.item_updated", {"item_id": "l3", "quantity": 4})),
        incoming(
            event(
                "order.item_added",
                {"item_id": "l4", "sku": "SKU-l4", "quantity": 2},
            )
        ),
    )
    assert {o.kind for o in result.outcomes} == {OutcomeKind.APPLIED}
    assert await _table(
        conn, "SELECT item_id, position, sku, quantity FROM order_items ORDER BY position"
    ) == [("l2", 0, "SKU-l2", 1), ("l3", 1, "SKU-l3", 4), ("l4", 2, "SKU-l4", 2)]
    view = json.loads(await conn.fetchval("SELECT view::text FROM orders"))
    assert [i["item_id"] for i in view["items"]] == ["l2", "l3", "l4"]


async def test_the_batch_statements_run_on_generic_plans(conn: asyncpg.Connection) -> None:
    # On analysed tables PostgreSQL chose a custom plan for batch_reads and write_batch on
    # every run, planning them anew for each batch (bench/results-worker-cost.md).
    await _apply(conn, *(incoming(created(order=f"ORD-{n}")) for n in range(50)))
    await conn.execute("ANALYZE")
    for n in range(8):
        await _apply(conn, incoming(state("paid", order=f"ORD-{n}")))
    plans = {
        name: (generic, custom)
        for name, generic, custom in await conn.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
    }
    # The first batch and the eight after ANALYZE, none planned for its values. The write
    # statement is cut to the tables a batch writes: the new orders' and the state changes'
    # differ (items), so the nine writes count over two statements.
    assert plans[QUERIES["batch_reads"]] == (9, 0)
    writes = [p for sql, p in plans.items() if is_write_statement(sql)]
    assert len(writes) == 2
    assert tuple(map(sum, zip(*writes, strict=True))) == (9, 0)


async def test_a_batch_sends_only_the_parts_of_the_write_statement_it_writes(
    conn: asyncpg.Connection,
) -> None:
    # PostgreSQL starts up every sub-statement it is sent, opening each table and its
    # indexes, and asyncpg encodes every array: a paced state change wrote to six of the
    # ten tables, and paid for all of them.
    statements: list[str] = []
    conn.add_query_logger(lambda logged: statements.append(logged.query))
    await _apply(conn, logged(created(), 0), group="g1")
    await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    (creation,) = [s for s in statements if "INSERT INTO orders " in s]
    # A new order has no stored rows to prune.
    assert "INSERT INTO order_items " in creation
    assert "DELETE" not in creation
    statements.clear()
    result = await _apply(conn, logged(state("paid"), 1), group="g1")
    await asyncio.sleep(0)
    assert [o.kind for o in result.outcomes] == [OutcomeKind.APPLIED]
    (write,) = [s for s in statements if "INSERT INTO orders " in s]
    for table in ("order_state_history", "processed_events", "outbox", "order_events"):
        assert f"INSERT INTO {table} " in write, table
    for table in ("order_items", "order_shipments", "parked_events", "rejected_events"):
        assert table not in write, table
    assert await _table(conn, "SELECT order_id, state, version FROM orders") == [
        ("ORD-1", "paid", 2)
    ]
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 1


@pytest.mark.parametrize("part", PARTS)
async def test_each_part_of_the_write_statement_stands_on_its_own(
    conn: asyncpg.Connection, part: str
) -> None:
    # A batch may write to any one table alone; its cut must still prepare, every parameter
    # typed.
    statement = await conn.prepare(statement_with(frozenset({part})).sql)
    assert len(statement.get_parameters()) == len(statement_with(frozenset({part})).parameters)
