"""The changes ``decide`` understands.

They are built from wire events (``orderstate.events.registry``) or REST
requests, but they are not wire events: no envelope, no transport ids, only
what the lifecycle needs. Every change names its order, the id of the event
that caused it (kept in history and on outbound events), when it happened at
the shop, and optionally the order version the sender expects (rule 11).
"""

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from orderstate.domain.model import (
    Item,
    ItemStatus,
    OrderFields,
    ShipmentDirection,
    ShipmentLink,
    ShipmentStatus,
    Tags,
)
from orderstate.domain.states import OrderState

__all__ = [
    "AddItem",
    "CancelShipment",
    "Change",
    "ChangeShipmentStatus",
    "CreateOrder",
    "DeleteOrder",
    "ImportOrder",
    "ImportedState",
    "ItemPatch",
    "LinkShipment",
    "OrderPatch",
    "RemoveItem",
    "RequestState",
    "SetBoarding",
    "SetTags",
    "UpdateItem",
    "UpdateOrder",
]


class Change(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shop_id: str
    order_id: str
    event_id: str
    occurred_at: datetime
    expected_version: int | None = None


class CreateOrder(Change):
    fields: OrderFields
    items: tuple[Item, ...] = ()
    tags: Tags = Tags()
    state: OrderState | None = None
    boarding_complete: bool = False


class OrderPatch(BaseModel):
    """Fields to change. A field left out keeps its value; an explicit null clears an optional
    field (order_url, language, promised_delivery_date; tags: null clears them all).
    order_date and boarding_complete cannot be cleared: null for them is refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_url: str | None = None
    order_date: datetime | None = None
    language: str | None = None
    promised_delivery_date: datetime | None = None
    boarding_complete: bool | None = None
    tags: Tags | None = None


class UpdateOrder(Change):
    patch: OrderPatch


class DeleteOrder(Change):
    pass


class RequestState(Change):
    state: OrderState
    location: str | None = None


class AddItem(Change):
    item: Item


class ItemPatch(BaseModel):
    """Item fields to change; a field left out keeps its value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str | None = None
    name: str | None = None
    quantity: int | None = None
    unit_price: Decimal | None = None
    currency: str | None = None
    status: ItemStatus | None = None


class UpdateItem(Change):
    item_id: str
    patch: ItemPatch


class RemoveItem(Change):
    item_id: str


class SetTags(Change):
    tags: Tags
    # False replaces every tag; True adds and overwrites the given keys only.
    merge: bool = False


class SetBoarding(Change):
    boarding_complete: bool


class LinkShipment(Change):
    shipment_id: str
    direction: ShipmentDirection
    status: ShipmentStatus = ShipmentStatus.NEW
    carrier: str | None = None
    tracking_code: str | None = None


class ChangeShipmentStatus(Change):
    shipment_id: str
    status: ShipmentStatus


class CancelShipment(Change):
    shipment_id: str


class ImportedState(BaseModel):
    """One state of an imported order's history, at the time it was reached there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: OrderState
    occurred_at: datetime
    location: str | None = None
    late: bool = False


class ImportOrder(Change):
    """An order as another system knew it, history and shipments included (orderstate
    backfill). It only ever creates an order the shop never had; ``emit`` says whether its
    order events are published (flagged ``backfill``) or nothing is."""

    fields: OrderFields
    items: tuple[Item, ...] = ()
    tags: Tags = Tags()
    boarding_complete: bool = False
    state: OrderState
    history: tuple[ImportedState, ...]
    shipments: tuple[ShipmentLink, ...] = ()
    emit: bool = False
