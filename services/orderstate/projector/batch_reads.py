"""What a batch reads before it decides, in two round trips (queries.sql, ``lock_batch_orders``
and ``batch_reads``): the locks first, then every read in one statement.

Two, not one: under READ COMMITTED a statement reads the snapshot taken when it starts, so a
statement that waited for an order's lock would read the order as it was before the writer it
waited for committed. And two, not seven: at a paced rate a batch holds one or a few events,
and each round trip costs the worker and PostgreSQL more than deciding an event does
(bench/results-batch-cost.md).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from orderstate.domain import Change, OrderState, RequestState
from orderstate.events.topics import TopicRole
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query
from orderstate.projector.write_forms import WriteForms

__all__ = ["BatchReads", "ParkedRecord", "StoredView", "lock_batch_orders", "read_batch"]

Key = tuple[str, str]
Moment = tuple[OrderState, datetime]


@dataclass(frozen=True, slots=True)
class StoredView:
    text: str
    last_sequence: int


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    """A parked shipment event, as stored (parked_events) and as a batch holds it."""

    source: str
    event_id: str
    shop_id: str
    order_id: str
    topic_role: TopicRole
    event_json: str
    # The partition pair whose log clock decides when it expires (None: parked before
    # pairs were stored), and its deadline on that clock.
    pair: int | None
    due_ms: int

    @property
    def ident(self) -> tuple[str, str]:
        return (self.source, self.event_id)


@dataclass(slots=True)
class BatchReads:
    processed: set[tuple[str, str]]
    forms: WriteForms
    # Of the (state, occurred_at) pairs the batch's state changes request, those the orders'
    # histories hold already (stored_views.recorded_moments).
    moments: dict[Key, set[Moment]]
    views: dict[Key, StoredView]
    # In the order they came (their place in the log).
    parked: list[ParkedRecord] = field(default_factory=list)


async def lock_batch_orders(conn: Conn, keys: Iterable[Key], until: Mapping[int, int]) -> set[Key]:
    """Lock ``keys`` and the orders whose parked events are due on the pairs of ``until``
    (pair -> the latest log clock the batch reaches on it); return the latter. Call it before
    the transaction's first write, so that the transaction gets its xid after the previous
    writer of these orders committed: the changes feed's order relies on it (api/changes.py)."""
    pairs = sorted(until)
    row = await conn.fetchrow(
        query("lock_batch_orders"),
        [f"{s}:{o}" for s, o in keys],
        pairs,
        [until[p] for p in pairs],
    )
    assert row is not None  # noqa: S101 -- a SELECT without FROM returns one row
    return {(s, o) for s, o in row["due"]}


async def read_batch(
    conn: Conn,
    idents: Iterable[tuple[str, str]],
    keys: Iterable[Key],
    changes: Iterable[Change],
) -> BatchReads:
    """Everything a batch of these event identities, orders and changes reads, after
    ``lock_batch_orders`` took the orders' locks."""
    ids = sorted(idents)
    ordered = sorted(keys)
    asked = {
        (c.shop_id, c.order_id, str(c.state), c.occurred_at)
        for c in changes
        if isinstance(c, RequestState)
    }
    row = await conn.fetchrow(
        query("batch_reads"),
        [s for s, _ in ids],
        [e for _, e in ids],
        [s for s, _ in ordered],
        [o for _, o in ordered],
        [a[0] for a in asked],
        [a[1] for a in asked],
        [a[2] for a in asked],
        [a[3] for a in asked],
    )
    if row is None or row["with_history"] is None or row["by_reference"] is None:
        raise RuntimeError("the tables view_form and outbox_form must hold their one row")
    moments: dict[Key, set[Moment]] = defaultdict(set)
    for shop, order, state, occurred_at in row["moments"]:
        moments[(shop, order)].add((OrderState(state), occurred_at))
    return BatchReads(
        processed={(s, e) for s, e in row["processed"]},
        forms=WriteForms(row["with_history"], row["by_reference"]),
        moments=moments,
        views={(s, o): StoredView(text, seq) for s, o, text, seq in row["views"]},
        parked=[
            ParkedRecord(s, e, shop, order, TopicRole(role), text, pair, due)
            for s, e, shop, order, role, text, pair, due in row["parked"]
        ],
    )
