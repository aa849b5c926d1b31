"""Payload models of what orderstate publishes, and how domain facts become them.

Every order event carries a snapshot of the order after the change (without
its history), so a consumer needs no second read. ``sequence`` on the
envelope numbers the order's outbound events: 1, 2, 3, ... with no gap and no
repeat, also when one change emits two events; ``data.version`` is the order's
version after the change.
"""

from datetime import datetime
from typing import Any

import pydantic_core
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from orderstate.domain import (
    BoardingCompleted,
    Emitted,
    Item,
    ItemStatus,
    LateEventRecorded,
    OrderDeleted,
    OrderState,
    OrderUpdated,
    OrderView,
    ReasonCode,
    ShipmentDirection,
    ShipmentLink,
    ShipmentLinked,
    ShipmentStatus,
    StateChanged,
)
from orderstate.events.envelope import CloudEvent

__all__ = [
    "OUTBOUND_SOURCE",
    "BoardingCompletedOut",
    "EventRejectedOut",
    "ItemSnapshot",
    "LateEventRecordedOut",
    "OrderDeletedOut",
    "OrderSnapshot",
    "OrderUpdatedOut",
    "RejectedOriginal",
    "ShipmentLinkedOut",
    "ShipmentSnapshot",
    "StateChangedOut",
    "outbound_event",
    "outbound_event_data",
    "outbound_event_text",
    "outbound_type",
    "rejected_event",
    "snapshot_data",
    "snapshot_members",
    "snapshot_text",
    "time_data",
]

OUTBOUND_SOURCE = "orderstate"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ItemSnapshot(_Out):
    item_id: str
    sku: str
    name: str | None
    quantity: int
    unit_price: str | None = Field(description="Decimal string.")
    currency: str | None
    status: ItemStatus


class ShipmentSnapshot(_Out):
    shipment_id: str
    direction: ShipmentDirection
    status: ShipmentStatus
    carrier: str | None
    tracking_code: str | None
    linked_at: AwareDatetime
    status_at: AwareDatetime


class OrderSnapshot(_Out):
    order_id: str
    order_url: str | None
    order_date: AwareDatetime
    language: str | None
    promised_delivery_date: AwareDatetime | None
    order_tags: dict[str, str]
    boarding_complete: bool
    state: OrderState
    payment_evidence: bool
    version: int
    items: list[ItemSnapshot]
    shipments: list[ShipmentSnapshot]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    deleted: bool


class _OrderEventOut(_Out):
    version: int
    cause_event_id: str
    occurred_at: AwareDatetime
    backfill: bool = Field(
        default=False,
        description="true on the events of an order imported by `orderstate backfill --emit` "
        "(history, not a live change); left out of every other event.",
    )
    order: OrderSnapshot


class StateChangedOut(_OrderEventOut):
    from_state: OrderState | None = Field(description="null when the order was just created.")
    to_state: OrderState


class BoardingCompletedOut(_OrderEventOut):
    boarding_complete: bool = True


class ShipmentLinkedOut(_OrderEventOut):
    shipment_id: str
    direction: ShipmentDirection


class LateEventRecordedOut(_OrderEventOut):
    state: OrderState = Field(description="The state that arrived late; kept in history only.")
    current_state: OrderState


class OrderUpdatedOut(_OrderEventOut):
    change: str = Field(description="What changed: item_added, tags_set, order_updated, ...")


class OrderDeletedOut(_OrderEventOut):
    pass


class RejectedOriginal(_Out):
    """The rejected input as it arrived, so it can be fixed and sent again."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    headers: dict[str, str] = {}
    value: str | None = Field(default=None, description="The record value, see value_encoding.")
    value_encoding: str = Field(default="utf-8", description="'utf-8' or 'base64'.")
    event_id: str | None = None
    event_type: str | None = None


class EventRejectedOut(_Out):
    reason: ReasonCode
    message: str
    original: RejectedOriginal


_OUT_TYPES: dict[type[Emitted], tuple[str, type[_OrderEventOut]]] = {
    StateChanged: ("order.state_changed", StateChangedOut),
    BoardingCompleted: ("order.boarding_completed", BoardingCompletedOut),
    ShipmentLinked: ("order.shipment_linked", ShipmentLinkedOut),
    LateEventRecorded: ("order.late_event_recorded", LateEventRecordedOut),
    OrderUpdated: ("order.updated", OrderUpdatedOut),
    OrderDeleted: ("order.deleted", OrderDeletedOut),
}


def outbound_type(fact: Emitted) -> str:
    return _OUT_TYPES[type(fact)][0]


class _SnapshotOfView(TypedDict):
    """``OrderSnapshot``'s members as the view holds them, serialised by the domain models'
    own serialisers, without first building every item, shipment and timestamp as a JSON
    value in Python (that took half of the time)."""

    order_id: str
    order_url: str | None
    order_date: datetime
    language: str | None
    promised_delivery_date: datetime | None
    order_tags: dict[str, str]
    boarding_complete: bool
    state: OrderState
    payment_evidence: bool
    version: int
    items: tuple[Item, ...]
    shipments: tuple[ShipmentLink, ...]
    created_at: datetime
    updated_at: datetime
    deleted: bool


_SNAPSHOT_OF_VIEW: TypeAdapter[_SnapshotOfView] = TypeAdapter(_SnapshotOfView)


def snapshot_text(view: OrderView) -> str:
    """``OrderSnapshot`` of a view as compact JSON text, made once per change and put into
    each of its events by ``outbound_event_text``. The write path makes one per accepted
    change, so it skips validating the view again."""
    return _SNAPSHOT_OF_VIEW.dump_json(snapshot_members(view)).decode()


def snapshot_members(view: OrderView) -> _SnapshotOfView:
    """``OrderSnapshot``'s members as the view holds them, not yet serialised."""
    fields = view.fields
    return {
        "order_id": view.order_id,
        "order_url": fields.order_url,
        "order_date": fields.order_date,
        "language": fields.language,
        "promised_delivery_date": fields.promised_delivery_date,
        "order_tags": view.tags,
        "boarding_complete": view.boarding_complete,
        "state": view.state,
        "payment_evidence": view.payment_evidence,
        "version": view.version,
        "items": view.items,
        "shipments": view.shipments,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "deleted": view.deleted,
    }


def snapshot_data(view: OrderView) -> dict[str, Any]:
    """``snapshot_text`` as JSON-ready data, for the validating builder below: one list of the
    snapshot's members, so the two forms cannot drift apart."""
    data: dict[str, Any] = pydantic_core.from_json(snapshot_text(view))
    return data


_TIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
# The last moment written and its text, as one tuple so that a reader never pairs one moment
# with another's text. The write path asks once per accepted change, with its batch's time
# each time; by identity, since equal times in other zones are written differently.
_last_time: list[tuple[datetime, str]] = []


def time_data(moment: datetime) -> str:
    """A timestamp exactly as the CloudEvent model would serialise it."""
    last = _last_time[-1] if _last_time else None
    if last is not None and last[0] is moment:
        return last[1]
    text: str = _TIME.dump_python(moment, mode="json")
    _last_time[:] = [(moment, text)]
    return text


# What a live change's facts leave out: the backfill flag is on imported orders' events only,
# so every other event keeps the shape it always had.
_LIVE = {"backfill"}


def outbound_event_data(
    fact: Emitted,
    snapshot: dict[str, Any],
    *,
    event_id: str,
    time: str,
    view: OrderView,
    sequence: int,
) -> dict[str, Any]:
    """The structured-mode CloudEvent of one emitted fact as JSON-ready data."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": OUTBOUND_SOURCE,
        "type": _OUT_TYPES[type(fact)][0],
        "time": time,
        "datacontenttype": "application/json",
        "shopid": view.shop_id,
        "orderid": view.order_id,
        "sequence": sequence,
        "data": {
            **fact.model_dump(mode="json", exclude=None if fact.backfill else _LIVE),
            "order": snapshot,
        },
    }


# Stands in for the snapshot while the rest of the event is serialised: the last member of
# data, which is the last member of the event.
_PLACEHOLDER = 0
_PLACEHOLDER_END = ',"order":0}}'


def outbound_event_text(
    fact: Emitted,
    snapshot: str,
    *,
    event_id: str,
    time: str,
    view: OrderView,
    sequence: int,
) -> str:
    """``outbound_event_data``'s event as compact JSON text (what ``json.dumps`` with
    ``separators=(",", ":"), ensure_ascii=False`` writes), given the order's
    ``snapshot_text``: the facts of one change share one serialisation of the order."""
    data = outbound_event_data(fact, {}, event_id=event_id, time=time, view=view, sequence=sequence)
    data["data"]["order"] = _PLACEHOLDER
    text = pydantic_core.to_json(data).decode()
    if not text.endswith(_PLACEHOLDER_END):
        raise AssertionError(f"the order snapshot is not the event's last member: {text[-64:]!r}")
    return f'{text[: -len(_PLACEHOLDER_END)]},"order":{snapshot}}}}}'


def outbound_event(
    fact: Emitted, view: OrderView, *, event_id: str, now: datetime, sequence: int
) -> CloudEvent:
    """The validated CloudEvent for one emitted fact; the caller supplies the id and the clock.

    The write path uses ``outbound_event_data`` directly; this validating form is what the
    published examples are made with, so the contract tests check the same builder."""
    data = outbound_event_data(
        fact,
        snapshot_data(view),
        event_id=event_id,
        time=time_data(now),
        view=view,
        sequence=sequence,
    )
    _OUT_TYPES[type(fact)][1].model_validate(data["data"])
    return CloudEvent.model_validate(data)


def rejected_event(
    *,
    shop_id: str,
    order_id: str,
    reason: ReasonCode,
    message: str,
    original: RejectedOriginal,
    event_id: str,
    now: datetime,
) -> CloudEvent:
    data = EventRejectedOut(reason=reason, message=message, original=original)
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source=OUTBOUND_SOURCE,
        type="event.rejected",
        time=now,
        shopid=shop_id,
        orderid=order_id,
        data=data.model_dump(mode="json"),
    )
