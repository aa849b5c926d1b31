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
    "MAX_HISTORY",
    "BoardingCompletedData",
    "ImportedShipmentData",
    "ImportedStateData",
    "InboundData",
    "ItemAddedData",
    "ItemChanges",
    "ItemData",
    "ItemRemovedData",
    "ItemUpdatedData",
    "OrderCreatedData",
    "OrderDeletedData",
    "OrderImportedData",
    "OrderStateChangedData",
    "OrderUpdatedData",
    "ShipmentCancelledData",
    "ShipmentCreatedData",
    "ShipmentStatusChangedData",
    "TagsSetData",
]

# States one imported order may bring; far more than any real lifecycle goes through.
MAX_HISTORY = 1_000

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


class ImportedStateData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state: OrderState
    occurred_at: Timestamp = Field(
        description="When the order reached the state (Seven Senders 'datetime'); kept as is."
    )
    location: Location | None = None
    late: bool = Field(
        default=False,
        description="The state arrived after a later one and was only recorded (lifecycle "
        "rule 2); the current state is the last entry that is not late.",
    )


class ImportedShipmentData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shipment_id: ShipmentId
    direction: ShipmentDirection
    status: ShipmentStatus = ShipmentStatus.NEW
    carrier: ShortText | None = None
    tracking_code: ShortText | None = None
    linked_at: Timestamp = Field(description="When the shipment was linked to the order.")
    status_at: Timestamp | None = Field(
        default=None, description="When the shipment reached its status; linked_at when left out."
    )


class OrderImportedData(OrderCreatedData):
    """A whole order as another system knew it, with the history it went through there
    (``orderstate backfill``). Decided as one change: it creates the order with this history,
    or, when the shop already has the order, it is rejected (``order_exists``) and changes
    nothing."""

    state: OrderState = Field(
        description="The order's current state: the state of the last entry of states_history "
        "that is not late."
    )
    states_history: list[ImportedStateData] = Field(min_length=1, max_length=MAX_HISTORY)
    shipments: list[ImportedShipmentData] = Field(default=[], max_length=MAX_ITEMS)
    emit: bool = Field(
        default=False,
        description="true: publish the import's order events, flagged backfill: true; false: "
        "publish nothing downstream for this order.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "OrderImportedData":
        if self.expected_version is not None:
            raise ValueError("expected_version: an import creates the order; it has no version")
        current = [h.state for h in self.states_history if not h.late]
        if not current:
            raise ValueError("states_history: every entry is late; the first state cannot be")
        if current[-1] != self.state:
            raise ValueError(
                f"state {self.state.value!r} is not the last state of states_history that is "
                f"not late ({current[-1].value!r})"
            )
        ids = [s.shipment_id for s in self.shipments]
        if len(ids) != len(set(ids)):
            raise ValueError("shipments: shipment_id values must be unique within an order")
        return self
