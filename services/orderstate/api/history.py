"""Reading the order event log (table order_events): an order as it was known at a moment,
and an order's events in sequence.

The log holds every outbound order event, written in the transaction that applied its change
and never changed afterwards. Each event carries a snapshot of the order after the change
(everything but ``states_history``) and the log row says how long ``states_history`` was
then, so the order as of a moment is the snapshot of its last event recorded by then, with
that many entries of its history (order_state_history only ever grows).
"""

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from orderstate.domain import HistoryEntry, OrderView, history_summary
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query
from orderstate.projector.stored_views import entry_of_row

__all__ = [
    "AsOf",
    "LoggedRow",
    "Missing",
    "logged_row",
    "order_as_of",
    "order_events",
    "order_known",
    "view_of_snapshot",
]


@dataclass(frozen=True, slots=True)
class AsOf:
    view: OrderView
    sequence: int


class Missing(StrEnum):
    """Why there is no order to show at the moment asked for."""

    UNKNOWN = "unknown"  # the shop has no such order
    NOT_YET_CREATED = "not_yet_created"  # created after the moment
    NOT_KEPT = "not_kept"  # the log starts after the moment, and after the order's creation
    DELETED = "deleted"  # deleted at the moment


@dataclass(frozen=True, slots=True)
class LoggedRow:
    order_id: str
    sequence: int
    type: str
    recorded_at: datetime
    event: dict[str, Any]


async def order_as_of(
    conn: Conn, shop_id: str, order_id: str, moment: datetime
) -> AsOf | tuple[Missing, int | None]:
    """The order as known at ``moment``, or (a ``Missing`` reason, the sequence it refers to)."""
    row = await conn.fetchrow(query("order_event_as_of"), shop_id, order_id, moment)
    if row is None:
        first, known = await _log_start(conn, shop_id, order_id)
        if not known:
            return Missing.UNKNOWN, None
        if first == 1:
            return Missing.NOT_YET_CREATED, None
        return Missing.NOT_KEPT, first
    snapshot = json.loads(row["event"])["data"]["order"]
    if snapshot["deleted"]:
        return Missing.DELETED, row["sequence"]
    rows = await conn.fetch(query("history_as_of"), shop_id, order_id, row["history_len"])
    history = [entry_of_row(r) for r in rows]
    return AsOf(view_of_snapshot(shop_id, snapshot, history), row["sequence"])


def view_of_snapshot(
    shop_id: str, snapshot: dict[str, Any], history: list[HistoryEntry]
) -> OrderView:
    """The view an event's ``OrderSnapshot`` was made from (events/outbound.py, snapshot_text)."""
    return OrderView.model_validate(
        {
            "shop_id": shop_id,
            "order_id": snapshot["order_id"],
            "fields": {
                "order_url": snapshot["order_url"],
                "order_date": snapshot["order_date"],
                "language": snapshot["language"],
                "promised_delivery_date": snapshot["promised_delivery_date"],
            },
            "items": snapshot["items"],
            "tags": snapshot["order_tags"],
            "shipments": snapshot["shipments"],
            "boarding_complete": snapshot["boarding_complete"],
            "state": snapshot["state"],
            "payment_evidence": snapshot["payment_evidence"],
            "version": snapshot["version"],
            **history_summary(history),
            "history": history,
            "created_at": snapshot["created_at"],
            "updated_at": snapshot["updated_at"],
            "deleted": snapshot["deleted"],
        }
    )


def logged_row(row: Any) -> LoggedRow:
    return LoggedRow(
        order_id=row["order_id"],
        sequence=row["sequence"],
        type=row["type"],
        recorded_at=row["recorded_at"],
        event=json.loads(row["event"]),
    )


async def order_events(
    conn: Conn, shop_id: str, order_id: str, *, limit: int, offset: int
) -> tuple[list[LoggedRow], int]:
    """A page of the order's events in sequence, and how many it has."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        total = await conn.fetchval(query("order_events_count"), shop_id, order_id)
        rows = await conn.fetch(query("order_events_page"), shop_id, order_id, limit, offset)
    return [logged_row(r) for r in rows], int(total)


async def order_known(conn: Conn, shop_id: str, order_id: str) -> bool:
    """Whether the shop has (or had) the order."""
    return (await _log_start(conn, shop_id, order_id))[1]


async def _log_start(conn: Conn, shop_id: str, order_id: str) -> tuple[int | None, bool]:
    """The first sequence the order's log keeps (None: none), and whether the shop has it."""
    row = await conn.fetchrow(query("order_log_start"), shop_id, order_id)
    if row is None:
        raise AssertionError("order_log_start always answers one row")
    return row["first_sequence"], bool(row["known"])
