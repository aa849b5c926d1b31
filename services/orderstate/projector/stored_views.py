"""Order views as the ``orders.view`` column stores them, and what a decision needs beside them.

The stored view holds no history entries: they live in ``order_state_history``, and the view
keeps only a summary of them (``OrderView.history_length`` and the fields after it), so loading
and writing a view costs the same whether the order has 5 changes or 500. The one question of
the rules a summary cannot answer, "is this state at this moment already recorded?", is asked
of the table, for the state changes a batch is about to decide (``recorded_moments``).

Views stored before migration 0009 carry their whole history, and releases before it read only
that form. ``parse_view`` reads both. Which form the write path stores is the database's
``view_form`` (migration 0010): the old form while pods of an older release may run (an
upgraded database starts so, until ``orderstate migrate --views-without-history``), the
summary form otherwise; ``orderstate migrate --rewrite-views-with-history`` goes back before a
rollback.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pydantic_core

from orderstate.domain import (
    Change,
    HistoryEntry,
    OrderState,
    OrderView,
    RequestState,
    history_summary,
)
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = [
    "VIEW_FORM_MIGRATION",
    "entries_of_columns",
    "entry_of_row",
    "load_views",
    "offset_seconds",
    "parse_view",
    "recorded_moments",
    "rewrite_views_with_history",
    "stored_form",
    "with_histories",
    "with_moments",
]

Key = tuple[str, str]
Moment = tuple[OrderState, datetime]

# The migration that lets the form views are stored in be switched (table view_form).
VIEW_FORM_MIGRATION = 10


def parse_view(text: str, *, keep_entries: bool = False) -> OrderView:
    """The view stored as ``text``, in either form (raises ``ValidationError``). The entries
    of a view stored with them are dropped unless ``keep_entries``: they are in
    order_state_history too."""
    view = OrderView.model_validate_json(text)
    if not view.history:
        return view
    summary = history_summary(view.history)
    return view.evolve(**summary) if keep_entries else view.evolve(**summary, history=())


# The fields of a view stored with its history, the form releases before migration 0009
# read: their model forbids any other field.
_WITH_HISTORY_FIELDS = frozenset(
    {
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
        "created_at",
        "updated_at",
        "deleted",
    }
)


def stored_form(view: OrderView, *, with_history: bool) -> str:
    """``view`` as the ``orders.view`` column stores it. ``with_history`` needs a view that
    holds all its entries (``history_length`` of them)."""
    if not with_history:
        return view.model_dump_json()
    if len(view.history) != view.history_length:
        raise ValueError(
            f"order {view.shop_id}:{view.order_id}: {len(view.history)} of its "
            f"{view.history_length} history entries are loaded; cannot store it with them"
        )
    data = view.model_dump(mode="json", include=set(_WITH_HISTORY_FIELDS))
    data["history"] = [entry.model_dump(mode="json") for entry in view.history]
    return pydantic_core.to_json(data).decode()


async def recorded_moments(conn: Conn, changes: Iterable[Change]) -> dict[Key, set[Moment]]:
    """Of the (state, occurred_at) pairs these changes request, those the orders' histories
    already hold, by order."""
    asked = {
        (c.shop_id, c.order_id, c.state, c.occurred_at)
        for c in changes
        if isinstance(c, RequestState)
    }
    found: dict[Key, set[Moment]] = defaultdict(set)
    if not asked:
        return found
    rows = await conn.fetch(
        query("recorded_moments"),
        [a[0] for a in asked],
        [a[1] for a in asked],
        [str(a[2]) for a in asked],
        [a[3] for a in asked],
    )
    for r in rows:
        found[(r["shop_id"], r["order_id"])].add((OrderState(r["state"]), r["occurred_at"]))
    return found


def with_moments(view: OrderView, moments: Iterable[Moment]) -> OrderView:
    """``view`` knowing these recorded moments too."""
    added = frozenset(moments) - view.moments
    return view.evolve(moments=view.moments | added) if added else view


async def load_views(
    conn: Conn, keys: Iterable[Key], changes: Iterable[Change] = ()
) -> dict[Key, OrderView]:
    """The current views of these orders (deleted ones included), ready to decide
    ``changes`` on (raises ``ValidationError`` for a stored view that no longer validates)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    moments = await recorded_moments(conn, changes)
    rows = await conn.fetch(query("load_views"), [s for s, _ in wanted], [o for _, o in wanted])
    return {
        (r["shop_id"], r["order_id"]): with_moments(
            parse_view(r["view"]), moments.get((r["shop_id"], r["order_id"]), ())
        )
        for r in rows
    }


def offset_seconds(moment: datetime) -> int | None:
    """The UTC offset ``moment`` was given with, as ``order_state_history`` keeps it."""
    offset = moment.utcoffset()
    return None if offset is None else int(offset.total_seconds())


def _as_given(moment: datetime, offset_s: int | None) -> datetime:
    # A timestamptz comes back in UTC; states_history shows the offset the shop sent.
    return moment if offset_s is None else moment.astimezone(timezone(timedelta(seconds=offset_s)))


def entry_of_row(row: Any) -> HistoryEntry:
    """One ``order_state_history`` row (an asyncpg record) as the entry it was recorded from."""
    return HistoryEntry(
        state=row["state"],
        occurred_at=_as_given(row["occurred_at"], row["occurred_offset_s"]),
        recorded_at=row["recorded_at"],
        cause_event_id=row["cause_event_id"],
        late=row["late"],
        location=row["location"],
    )


def entries_of_columns(row: Any) -> tuple[HistoryEntry, ...]:
    """The entries of a row holding a history as one array per column (``order_read``)."""
    states: Sequence[str] | None = row["states"]
    if states is None:
        return ()
    return tuple(
        HistoryEntry(
            state=state,
            occurred_at=_as_given(occurred, offset),
            recorded_at=recorded,
            cause_event_id=cause,
            late=late,
            location=location,
        )
        for state, occurred, offset, recorded, cause, late, location in zip(
            states,
            row["occurred"],
            row["offsets"],
            row["recorded"],
            row["causes"],
            row["lates"],
            row["locations"],
            strict=True,
        )
    )


async def rewrite_views_with_history(
    conn: Conn, advance: Callable[[int], None], chunk: int = 1000
) -> int:
    """Rewrite every stored view in the form releases before migration 0009 read, with its
    history entries, a chunk of orders per transaction; returns how many were rewritten.

    For a rollback past migration 0009: an older release cannot read the summary form (its
    views forbid unknown fields). First it switches the form (migration 0010), so that this
    release's processes store the old form from then on; they may keep running. This release
    reads either form.
    """
    async with conn.transaction():
        # Waits for the batches in flight; every batch after it stores the old form too.
        await conn.execute(query("set_view_form"), True)
    after = ("", "")
    done = 0
    while True:
        async with conn.transaction():
            keys = await conn.fetch(query("views_chunk"), after[0], after[1], chunk)
            if not keys:
                return done
            # The writers' per-order locks: a batch in flight commits first, and the rewrite
            # (a new snapshot after the wait) sees every entry it recorded.
            await conn.execute(
                query("lock_orders"), [f"{k['shop_id']}:{k['order_id']}" for k in keys]
            )
            await conn.execute(
                query("views_with_history"),
                [k["shop_id"] for k in keys],
                [k["order_id"] for k in keys],
            )
        after = (keys[-1]["shop_id"], keys[-1]["order_id"])
        done += len(keys)
        advance(len(keys))


async def with_histories(conn: Conn, views: Sequence[OrderView]) -> list[OrderView]:
    """These views with their whole states_history in ``history``, as long as each counts."""
    if not views:
        return []
    entries: dict[tuple[str, str], list[HistoryEntry]] = defaultdict(list)
    rows = await conn.fetch(
        query("histories_up_to"),
        [v.shop_id for v in views],
        [v.order_id for v in views],
        [v.history_length for v in views],
    )
    for r in rows:
        entries[(r["shop_id"], r["order_id"])].append(entry_of_row(r))
    return [v.evolve(history=tuple(entries[(v.shop_id, v.order_id)])) for v in views]
