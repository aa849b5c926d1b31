"""An order's story for the timeline page: the order as GET /v2/orders/{order_id} shows it
(the API's representation, with its open alerts), and its accepted changes (the outbound
events of the order event log, with their sequence) and rejected changes merged into one list
in the order orderstate recorded them."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from orderstate.api import history, reads
from orderstate.api.history import LoggedRow
from orderstate.api.representation import OrderReadOut, order_read_out
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["Entry", "Kind", "OrderStory", "Rejection", "order_story"]

# An order's events shown on its page; an order has a few dozen at most in practice, and the
# page says when there are more (GET /v2/orders/{order_id}/events pages through all).
EVENTS_SHOWN = 500


class Kind(StrEnum):
    CHANGE = "change"
    STATE = "state"
    LATE_STATE = "late_state"
    SHIPMENT = "shipment"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    message: str
    event_type: str | None
    source: str | None
    event_id: str | None
    rejected_at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the story, at the time orderstate recorded it."""

    recorded_at: datetime
    kind: Kind
    title: str
    detail: str
    # When it happened at the shop or the carrier, where that differs from recorded_at.
    occurred_at: datetime | None = None
    # A reason code, for rejections.
    code: str | None = None
    # The outbound event's sequence and the order's version after it, for accepted changes.
    sequence: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class OrderStory:
    order: OrderReadOut
    events: list[LoggedRow]
    events_total: int
    rejections: list[Rejection]
    entries: list[Entry] = field(default_factory=list)

    @property
    def late_states(self) -> int:
        return sum(1 for s in self.order.states_history if s.late)


async def order_story(conn: Conn, shop_id: str, order_id: str) -> OrderStory | None:
    """None when the shop has no such order (another shop's is the same: not found)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        found = await reads.get_order_and_alerts(conn, shop_id, order_id)
        if found is None:
            return None
        view, alerts = found
        events, total = await history.order_events(
            conn, shop_id, order_id, limit=EVENTS_SHOWN, offset=0
        )
        rejections = [
            Rejection(
                reason=r["reason"],
                message=r["message"],
                event_type=r["event_type"],
                source=r["source"],
                event_id=r["event_id"],
                rejected_at=r["rejected_at"],
            )
            for r in await conn.fetch(query("console_rejections_of_order"), shop_id, order_id)
        ]
    order = order_read_out(view, alerts)
    return OrderStory(order, events, total, rejections, _entries(events, rejections))


def _entries(events: list[LoggedRow], rejections: list[Rejection]) -> list[Entry]:
    """Every accepted change (an outbound event, with its sequence) and every rejected one, in
    the order orderstate recorded them."""
    entries = [_event_entry(e) for e in events]
    entries.extend(
        Entry(
            r.rejected_at,
            Kind.REJECTED,
            f"{r.event_type or 'a change'} rejected",
            r.message,
            code=r.reason,
        )
        for r in rejections
    )
    # A stable sort: events keep their sequence among equal times.
    entries.sort(key=lambda e: e.recorded_at)
    return entries


def _event_entry(row: LoggedRow) -> Entry:
    data: dict[str, Any] = row.event.get("data", {})
    occurred = _time(data.get("occurred_at"))
    kind, title, detail = Kind.CHANGE, row.type, ""
    if row.type == "order.state_changed":
        kind = Kind.STATE
        before = data.get("from_state")
        title = f"{before} → {data['to_state']}" if before else f"created as {data['to_state']}"
    elif row.type == "order.late_event_recorded":
        kind = Kind.LATE_STATE
        title = f"{data['state']} arrived late"
        detail = (
            f"It happened before the order's current state {data['current_state']}: kept in "
            "the history, the state did not change."
        )
    elif row.type == "order.shipment_linked":
        kind = Kind.SHIPMENT
        title = f"{data['direction']} shipment {data['shipment_id']} linked"
    elif row.type == "order.updated":
        title = f"updated: {data.get('change', 'order')}"
    elif row.type == "order.boarding_completed":
        title = "boarding complete" if data.get("boarding_complete", True) else "boarding reopened"
    return Entry(
        row.recorded_at,
        kind,
        title,
        detail,
        occurred_at=occurred,
        sequence=row.sequence,
        version=data.get("version"),
    )


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
