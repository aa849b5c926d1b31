"""Payload (``data``) models of the events shop platforms publish.

Field names follow the Seven Senders Orders API. The order's identity is not
repeated in ``data``: it is the ``shopid``/``orderid`` extension attributes and
the Kafka key. Every model forbids unknown fields, so a typo is an error and
not a silently ignored value.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orderstate.domain import ItemStatus, OrderState, ShipmentDirection, ShipmentStatus
from orderstate.events.fields import (
    MAX_ITEMS,
    Currency,
    ItemId,
    Language,
    Location,
    Money,
    Quantity,
    ShipmentId,
    ShortText,
    TagMap,
    Timestamp,
    Url,
)

__all__ = [
    "BoardingCompletedData",
    "InboundData",
    "ItemAddedData",
    "ItemChanges",
    "ItemData",
    "ItemRemovedData",
    "ItemUpdatedData",
    "OrderCreatedData",
    "OrderDeletedData",
    "OrderStateChangedData",
    "OrderUpdatedData",
    "ShipmentCancelledData",
    "ShipmentCreatedData",
    "ShipmentStatusChangedData",
    "TagsSetData",
]

ExpectedVersion = Annotated[
    int | None,
    Field(
        default=None,
        ge=1,
        description="Apply only if the order is at this version (optimistic concurrency).",
    ),
]


class InboundData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    expected_version: ExpectedVersion = None


class ItemData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: ItemId = Field(description="The shop's id of this order line.")
    sku: ShortText
    name: ShortText | None = None
    quantity: Quantity
    unit_price: Money | None = Field(default=None, description="Decimal string, e.g. '19.99'.")
    currency: Currency | None = Field(default=None, description="ISO 4217 code, e.g. 'EUR'.")
    status: ItemStatus = ItemStatus.OPEN

    @model_validator(mode="after")
    def _price_has_currency(self) -> "ItemData":
        if (self.unit_price is None) != (self.currency is None):
            raise ValueError("unit_price and currency go together: give both or neither")
        return self


class OrderCreatedData(InboundData):
    order_url: Url | None = None
    order_date: Timestamp
    language: Language | None = None
    promised_delivery_date: Timestamp | None = None
    order_tags: TagMap = {}
    boarding_complete: bool = False
    state: OrderState | None = Field(
        default=None, description="Initial state; 'new' when left out."
    )
    items: list[ItemData] = Field(default=[], max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _unique_item_ids(self) -> "OrderCreatedData":
        ids = [i.item_id for i in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("items: item_id values must be unique within an order")
        return self


class OrderUpdatedData(InboundData):
    """Only the fields present change; an explicit null clears an optional field."""

    order_url: Url | None = None
    order_date: Timestamp | None = None
    language: Language | None = None
    promised_delivery_date: Timestamp | None = None
    order_tags: TagMap | None = None
    boarding_complete: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> "OrderUpdatedData":
        if not self.model_fields_set - {"expected_version"}:
            raise ValueError("order.updated needs at least one field to change")
        for name in ("order_date", "boarding_complete"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class OrderDeletedData(InboundData):
    pass


class OrderStateChangedData(InboundData):
    state: OrderState
    occurred_at: Timestamp = Field(
        description="When the order reached the state at the shop (Seven Senders 'datetime')."
    )
    location: Location | None = None


class ItemAddedData(InboundData, ItemData):
    pass


class ItemChanges(InboundData):
    """The item fields an update may change; the REST body of PATCH .../items/{item_id}."""

    sku: ShortText | None = None
    name: ShortText | None = None
    quantity: Quantity | None = None
    unit_price: Money | None = None
    currency: Currency | None = None
    status: ItemStatus | None = None

    @model_validator(mode="after")
    def _changes_something_valid(self) -> "ItemChanges":
        given = self.model_fields_set - {"item_id", "expected_version"}
        if not given:
            raise ValueError("order.item_updated needs at least one field to change")
        for name in ("sku", "quantity", "status"):
            if name in given and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ItemUpdatedData(ItemChanges):
    item_id: ItemId


class ItemRemovedData(InboundData):
    item_id: ItemId


class TagsSetData(InboundData):
    order_tags: TagMap
    merge: bool = Field(
        default=False, description="false replaces all tags; true adds or overwrites these keys."
    )


class BoardingCompletedData(InboundData):
    boarding_complete: bool = Field(
        default=True, description="true: every shipment of the order exists; false unsets it."
    )


class ShipmentCreatedData(InboundData):
    shipment_id: ShipmentId
    direction: ShipmentDirection
    status: ShipmentStatus = ShipmentStatus.NEW
    carrier: ShortText | None = None
    tracking_code: ShortText | None = None


class ShipmentStatusChangedData(InboundData):
    shipment_id: ShipmentId
    status: ShipmentStatus
    occurred_at: Timestamp | None = Field(
        default=None, description="Carrier time of the status; the event time when left out."
    )


class ShipmentCancelledData(InboundData):
    shipment_id: ShipmentId
