"""What the REST API returns: orders in Seven Senders field names, built from the view."""

import datetime as dt
from urllib.parse import quote

from pydantic import BaseModel, Field

from orderstate.domain import (
    ItemStatus,
    OrderState,
    OrderView,
    ShipmentDirection,
    ShipmentStatus,
)

__all__ = [
    "ItemOut",
    "OrderOut",
    "ShipmentOut",
    "ShipmentResource",
    "StateOut",
    "item_iri",
    "order_iri",
    "order_out",
    "shipment_iri",
]


def order_iri(order_id: str) -> str:
    """The order's path, its reference percent-encoded ('#', '/', spaces, any letter)."""
    return f"/v2/orders/{quote(order_id, safe='')}"


def item_iri(order_id: str, item_id: str) -> str:
    return f"{order_iri(order_id)}/items/{quote(item_id, safe='')}"


def shipment_iri(shipment_id: str) -> str:
    return f"/v2/shipments/{quote(shipment_id, safe='')}"


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


def order_out(view: OrderView) -> OrderOut:
    return OrderOut(
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
