"""The stored view keeps a summary of the history, not its entries (migration 0009).

Each test applies its changes in separate batches, so every decision starts from the view as
PostgreSQL stores it, the way the worker meets an order it saw in an earlier batch.
"""

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from orderstate.api import reads
from orderstate.domain import HistoryEntry, PolicyBook
from orderstate.projector.apply import BatchResult, OutcomeKind, apply_batch
from orderstate.projector.inputs import Input
from orderstate.projector.stored_views import parse_view, rewrite_views_with_history
from tests.support.events import created, event, incoming, state

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
POLICIES = PolicyBook()


@pytest.fixture
async def conn(database_url: str):  # type: ignore[no-untyped-def]
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def _apply(conn: asyncpg.Connection, *items: Input) -> BatchResult:
    return await apply_batch(conn, list(items), policies=POLICIES, now=NOW)


async def _view(conn: asyncpg.Connection, order: str = "ORD-1") -> str:
    text: str = await conn.fetchval("SELECT view FROM orders WHERE order_id = $1", order)
    return text


async def _history(conn: asyncpg.Connection, order: str = "ORD-1") -> list[tuple[object, ...]]:
    rows = await conn.fetch(
        "SELECT seq, state, late FROM order_state_history WHERE order_id = $1 ORDER BY seq", order
    )
    return [tuple(r) for r in rows]


def _late_paid(n: int, order: str = "ORD-1") -> Input:
    """A paid state older than in_production at minute 100: accepted, recorded as late."""
    return incoming(state("paid", order=order, minutes=1 + n / 100))


async def _order_in_production(conn: asyncpg.Connection, order: str = "ORD-1") -> None:
    await _apply(conn, incoming(created(order=order)))
    await _apply(conn, incoming(state("in_production", order=order, minutes=100)))


async def test_stored_view_does_not_grow_with_the_history(conn: asyncpg.Connection) -> None:
    await _order_in_production(conn)
    for n in range(3):
        await _apply(conn, _late_paid(n))
    short = await _view(conn)
    for n in range(3, 60):
        assert [o.kind for o in (await _apply(conn, _late_paid(n))).outcomes] == [OutcomeKind.LATE]

    long = await _view(conn)
    assert len(await _history(conn)) == 62
    stored = json.loads(long)
    assert "history" not in stored
    assert stored["history_length"] == 62
    # Only the counters' digits differ (version 6 -> 63, history_length 5 -> 62).
    assert len(long) - len(short) == 2


async def test_a_late_state_at_a_recorded_moment_is_a_duplicate_in_a_later_batch(
    conn: asyncpg.Connection,
) -> None:
    await _order_in_production(conn)
    await _order_in_production(conn, "ORD-2")
    await _apply(conn, _late_paid(7))
    outbox = await conn.fetchval("SELECT count(*) FROM outbox")

    # Re-sent with a new event id, beside a change of another order that is new.
    result = await _apply(conn, _late_paid(7), _late_paid(7, order="ORD-2"))

    assert [o.kind for o in result.outcomes] == [OutcomeKind.DUPLICATE, OutcomeKind.LATE]
    assert await _history(conn) == [
        (1, "new", False),
        (2, "in_production", False),
        (3, "paid", True),
    ]
    assert await conn.fetchval("SELECT count(*) FROM outbox") == outbox + 1


async def test_a_view_stored_with_its_history_is_read_and_rewritten(
    conn: asyncpg.Connection,
) -> None:
    """A view written before migration 0009 carries its entries; it still decides alike."""
    create = created(state="paid")
    await _apply(conn, incoming(create))
    await _apply(conn, incoming(state("in_production", minutes=100)))
    await _apply(conn, _late_paid(1))
    await conn.execute(
        """
        UPDATE orders o SET view = (
            (o.view::jsonb - 'history_length' - 'created_in' - 'created_by' - 'completed_once')
            || jsonb_build_object('history', (
                SELECT jsonb_agg(jsonb_build_object(
                    'state', h.state, 'occurred_at', h.occurred_at,
                    'recorded_at', h.recorded_at, 'cause_event_id', h.cause_event_id,
                    'late', h.late, 'location', h.location) ORDER BY h.seq)
                FROM order_state_history h
                WHERE h.shop_id = o.shop_id AND h.order_id = o.order_id))
        )::text
        """
    )
    assert len(json.loads(await _view(conn))["history"]) == 4

    # The same creation again is a duplicate: its initial state is read back from the entries.
    result = await _apply(conn, incoming(created(state="paid")), _late_paid(1), _late_paid(2))

    assert [o.kind for o in result.outcomes] == [
        OutcomeKind.DUPLICATE,
        OutcomeKind.DUPLICATE,
        OutcomeKind.LATE,
    ]
    assert await _history(conn) == [
        (1, "new", False),
        (2, "paid", False),
        (3, "in_production", False),
        (4, "paid", True),
        (5, "paid", True),
    ]
    stored = json.loads(await _view(conn))
    assert "history" not in stored
    assert (stored["history_length"], stored["created_in"], stored["created_by"]) == (
        5,
        "paid",
        create.id,
    )


# The fields of a stored view before migration 0009: that release's model forbids others.
_OLD_FIELDS = {
    "shop_id",
    "order_id",
    "fields",
    "items",
    "tags",
    "shipments",
    "boarding_complete",
    "state",
    "payment_evidence",
    "version",
    "history",
    "created_at",
    "updated_at",
    "deleted",
}


async def test_views_rewritten_for_a_rollback_hold_their_history_as_sent(
    conn: asyncpg.Connection,
) -> None:
    """``orderstate migrate --rewrite-views-with-history`` before a rollback past 0009."""
    for order in ("A", "B", "C"):
        await _apply(conn, incoming(created(order=order, order_date="2026-03-02T10:00:00+02:00")))
        await _apply(
            conn,
            incoming(
                event(
                    "order.state_changed",
                    {"state": "in_production", "occurred_at": "2026-03-02T12:30:00-03:30"},
                    order=order,
                )
            ),
        )
        await _apply(conn, _late_paid(1, order=order))
    before = {o: await reads.get_order(conn, "shop-1", o) for o in ("A", "B", "C")}
    chunks: list[int] = []

    assert await rewrite_views_with_history(conn, chunks.append, chunk=2) == 3

    assert chunks == [2, 1]
    for order, view in before.items():
        assert view is not None
        text = await _view(conn, order)
        stored = json.loads(text)
        assert set(stored) == _OLD_FIELDS
        entries = [HistoryEntry.model_validate(h) for h in stored["history"]]
        assert entries == list(view.history)
        assert [h.occurred_at.utcoffset() for h in entries] == [
            timedelta(hours=2),
            timedelta(hours=-3, minutes=-30),
            timedelta(0),
        ]
        # This release reads the old form as it read the new one (the entries aside).
        assert parse_view(text).model_dump_json() == view.model_dump_json()
    # The write path keeps storing the old form: the older release may run any moment now.
    await _apply(conn, _late_paid(2, order="A"))
    stored = json.loads(await _view(conn, "A"))
    assert set(stored) == _OLD_FIELDS
    assert [h["state"] for h in stored["history"]] == ["new", "in_production", "paid", "paid"]
    assert await _history(conn, "A") == [
        (1, "new", False),
        (2, "in_production", False),
        (3, "paid", True),
        (4, "paid", True),
    ]


async def test_while_older_pods_may_run_views_are_stored_with_their_entries(
    conn: asyncpg.Connection,
) -> None:
    """An upgraded database stores the old form (migration 0010) until it is switched."""
    await _order_in_production(conn)
    await _order_in_production(conn, "B")
    await conn.execute("UPDATE view_form SET with_history = true")

    # A: stored in the summary form before; B: its next change, in the old form.
    result = await _apply(conn, _late_paid(1), _late_paid(1, order="B"), _late_paid(1))

    assert [o.kind for o in result.outcomes] == [
        OutcomeKind.LATE,
        OutcomeKind.LATE,
        OutcomeKind.DUPLICATE,
    ]
    for order in ("ORD-1", "B"):
        stored = json.loads(await _view(conn, order))
        assert set(stored) == _OLD_FIELDS
        assert [(h["state"], h["late"]) for h in stored["history"]] == [
            ("new", False),
            ("in_production", False),
            ("paid", True),
        ]
    # Loaded with its entries, the old form continues the history where it stood.
    await _apply(conn, _late_paid(2))
    assert [s for _, s, _ in await _history(conn)] == ["new", "in_production", "paid", "paid"]
    assert len(json.loads(await _view(conn))["history"]) == 4

    await conn.execute("UPDATE view_form SET with_history = false")
    await _apply(conn, _late_paid(3))
    stored = json.loads(await _view(conn))
    assert "history" not in stored
    assert stored["history_length"] == 5
    assert len(await _history(conn)) == 5
