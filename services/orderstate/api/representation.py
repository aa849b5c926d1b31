"""What the REST API returns: orders in Seven Senders field names, built from the view."""

import datetime as dt
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from orderstate.api.alert_reads import AlertRow
from orderstate.domain import (
    ItemStatus,
    OrderState,
    OrderView,
    ShipmentDirection,
    ShipmentStatus,
)

__all__ = [
    "AlertOut",
    "ItemOut",
    "OrderOut",
    "OrderReadOut",
    "ShipmentOut",
    "ShipmentResource",
    "StateOut",
    "alert_out",
    "item_iri",
    "order_iri",
    "order_out",
    "order_read_out",
    "shipment_iri",
]


def order_iri(order_id: str) -> str:
    """The order's path, its reference percent-encoded ('#', '/', spaces, any letter)."""
    return _addressable(_order_path(order_id))


def item_iri(order_id: str, item_id: str) -> str:
    return f"{_order_path(order_id)}/items/{quote(item_id, safe='')}"


def shipment_iri(shipment_id: str) -> str:
    return _addressable(f"/v2/shipments/{quote(shipment_id, safe='')}")


def _order_path(order_id: str) -> str:
    return f"/v2/orders/{quote(order_id, safe='')}"


def _addressable(path: str) -> str:
    # The API drops a '.json' at the end of an order's or a shipment's path (the 2017
    # documentation's spelling, api/compat/paths.py), so a reference that itself ends in
    # '.json' is reached with one more.
    return f"{path}.json" if path.endswith(".json") else path


class ItemOut(BaseModel):
    item_id: str
    sku: str
    name: str | None
    quantity: int
    unit_price: str | None = Field(description="Decimal string.")
    currency: str | None
    status: ItemStatus


class ShipmentOut(BaseModel):
    shipment_id: str
    direction: ShipmentDirection
    return_parcel: bool = Field(description="Seven Senders' name for direction == 'return'.")
    status: ShipmentStatus
    carrier: str | None
    tracking_code: str | None
    linked_at: dt.datetime
    status_at: dt.datetime


class StateOut(BaseModel):
    state: OrderState
    datetime: dt.datetime = Field(description="When the order reached the state at the shop.")
    recorded_at: dt.datetime = Field(description="When orderstate recorded it.")
    location: str | None
    late: bool = Field(description="Arrived after a later state; kept, not applied.")
    cause_event_id: str


class ShipmentResource(ShipmentOut):
    """A shipment as /v2/shipments shows it: with its order."""

    id: str = Field(description="The shipment id; GET /v2/shipments/{id} reads it.")
    iri: str = Field(description="The shipment's path, e.g. /v2/shipments/DE--1.")
    order_id: str
    order_iri: str
    order_state: OrderState = Field(description="The order's state now.")


class OrderOut(BaseModel):
    id: str = Field(
        description="Seven Senders clients read `id`: here it is the order reference itself "
        "(orderstate has no internal ids), so GET /v2/orders/{id} reads the order."
    )
    iri: str = Field(description="The order's path, e.g. /v2/orders/WEB-1001.")
    order_id: str
    order_url: str | None
    order_date: dt.datetime
    language: str | None
    promised_delivery_date: dt.datetime | None
    boarding_complete: bool
    order_tags: dict[str, str]
    state: OrderState
    items: list[ItemOut]
    shipments: list[ShipmentOut]
    states_history: list[StateOut]
    version: int = Field(description="Increases by one per accepted change; the ETag.")
    created_at: dt.datetime
    updated_at: dt.datetime


class AlertOut(BaseModel):
    """An alert of the order monitor: one deadline of one order under one rule."""

    id: str = Field(
        description="The alert id: derived from shop, order, rule and deadline, so it is the "
        "`alert_id` of its alert.raised and alert.cleared events on orderstate.order-alerts.v1."
    )
    rule: str = Field(
        description="state_deadline.<state> (stayed too long in <state>), order_delayed "
        "(promised_delivery_date passed, not completed), boarding_open (boarding_complete "
        "still false after shipping), parked_too_long (shipments wait for an order this shop "
        "has not created)."
    )
    status: Literal["open", "cleared"]
    order_id: str
    order_iri: str
    state: OrderState | None = Field(
        description="The order's state when the monitor last decided; null for parked_too_long."
    )
    order_version: int | None
    since: dt.datetime = Field(
        description="When the watched condition began (state entered, shipped, promised date, "
        "first shipment parked)."
    )
    deadline: dt.datetime = Field(description="When the alert became due.")
    raised_at: dt.datetime
    cleared_at: dt.datetime | None
    cleared_because: str | None = Field(
        description="moved_on (the order left the condition), deadline_changed (a new "
        "deadline replaced it), deleted, rule_removed (the shop's rules changed), unparked "
        "(no shipment waits any more)."
    )


def alert_out(row: AlertRow) -> AlertOut:
    return AlertOut(
        id=row.alert_id,
        rule=row.rule,
        status="open" if row.cleared_at is None else "cleared",
        order_id=row.order_id,
        order_iri=order_iri(row.order_id),
        state=row.state,
        order_version=row.order_version,
        since=row.since,
        deadline=row.deadline,
        raised_at=row.raised_at,
        cleared_at=row.cleared_at,
        cleared_because=row.cleared_because,
    )


class OrderReadOut(OrderOut):
    """An order as GET returns it: with the monitor's open alerts."""

    alerts: list[AlertOut] = Field(
        description="Open alerts of the order monitor (GET /v2/alerts lists cleared ones too). "
        "The monitor updates them after each change, so a write's response leaves them out."
    )


def order_read_out(view: OrderView, alerts: list[AlertRow]) -> OrderReadOut:
    # Built from the fields at once: an OrderOut copied into it was validated twice, half
    # of this function's time.
    return OrderReadOut(**_order_fields(view), alerts=[alert_out(a) for a in alerts])


def order_out(view: OrderView) -> OrderOut:
    return OrderOut(**_order_fields(view))


def _order_fields(view: OrderView) -> dict[str, Any]:
    return dict(
        id=view.order_id,
        iri=order_iri(view.order_id),
        order_id=view.order_id,
        order_url=view.fields.order_url,
        order_date=view.fields.order_date,
        language=view.fields.language,
        promised_delivery_date=view.fields.promised_delivery_date,
        boarding_complete=view.boarding_complete,
        order_tags=dict(view.tags),
        state=view.state,
        items=[
            ItemOut(
                item_id=i.item_id,
                sku=i.sku,
                name=i.name,
                quantity=i.quantity,
                unit_price=None if i.unit_price is None else str(i.unit_price),
                currency=i.currency,
                status=i.status,
            )
            for i in view.items
        ],
        shipments=[
            ShipmentOut(**s.model_dump(), return_parcel=s.direction is ShipmentDirection.RETURN)
            for s in view.shipments
        ],
        states_history=[
            StateOut(
                state=h.state,
                datetime=h.occurred_at,
                recorded_at=h.recorded_at,
                location=h.location,
                late=h.late,
                cause_event_id=h.cause_event_id,
            )
            for h in view.history
        ],
        version=view.version,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )
