"""Request bodies of the REST API.

They reuse the inbound event payload models, so a REST write and a Kafka event
are validated by the same rules; only what HTTP carries differently (the order
id in the body or the path) is added here.
"""

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orderstate.domain import OrderState, ShipmentStatus
from orderstate.events.fields import (
    Location,
    OrderId,
    ShipmentId,
    ShortText,
    TagMap,
    Timestamp,
)
from orderstate.events.inbound import OrderCreatedData

__all__ = [
    "EmbeddedOrder",
    "OrderCreate",
    "OrderStateCreate",
    "OrderStateResult",
    "ShipmentCreate",
    "TagsBody",
    "TokenRequest",
    "TokenResponse",
]


class OrderCreate(OrderCreatedData):
    order_id: OrderId = Field(description="The shop's own order reference.")


class OrderStateCreate(BaseModel):
    """Seven Senders ``POST /order-states`` (the legacy ``shop_order_id`` is read as
    ``order_id``)."""

    model_config = ConfigDict(extra="forbid")

    order_id: OrderId
    state: OrderState
    datetime: Timestamp = Field(description="When the order reached the state at the shop.")
    location: Location | None = None
    expected_version: int | None = Field(default=None, ge=1)


class EmbeddedOrder(OrderCreatedData):
    """The ``order`` object of ``POST /v2/shipments``: created in the same call."""

    order_id: OrderId | None = Field(
        default=None, description="The shop's order reference; the shipment's order_id if left out."
    )


class ShipmentCreate(BaseModel):
    """Seven Senders ``POST /v2/shipments``: links a shipment to an order of the shop.

    Fields orderstate does not keep (carrier_service, warehouse, weight, cod, ...) are
    accepted and ignored, and the recipient's and sender's personal data (``recipient_*``,
    ``sender_*``) is dropped before anything is stored, logged or published."""

    model_config = ConfigDict(extra="forbid")

    order_id: OrderId | None = Field(
        default=None, description="The order the shipment belongs to (legacy: shop_order_id)."
    )
    shipment_id: ShipmentId | None = Field(
        default=None,
        description="orderstate's id of the shipment; reference_number, else tracking_code, "
        "when left out.",
    )
    reference_number: ShipmentId | None = Field(
        default=None, description="The shop's own reference of the shipment."
    )
    tracking_code: ShortText | None = Field(
        default=None, description="The carrier's tracking number."
    )
    carrier: ShortText | None = Field(
        default=None,
        description="The carrier's name or code; Seven Senders' {name, country} object is read "
        "as its name.",
    )
    return_parcel: bool = Field(
        default=False, description="true: a return shipment (inbound); false: outbound."
    )
    status: ShipmentStatus = ShipmentStatus.NEW
    order: EmbeddedOrder | None = Field(
        default=None, description="Creates the order in the same call, before the shipment."
    )

    @model_validator(mode="after")
    def _order_and_shipment_named(self) -> Self:
        embedded = self.order.order_id if self.order is not None else None
        if self.order_id is None:
            self.order_id = embedded
        if self.order_id is None:
            raise ValueError("order_id: name the order the shipment belongs to")
        if embedded is not None and embedded != self.order_id:
            raise ValueError(f"order.order_id {embedded!r} differs from order_id {self.order_id!r}")
        if self.shipment_id is None:
            self.shipment_id = self.reference_number or self.tracking_code
        if self.shipment_id is None:
            raise ValueError(
                "give reference_number or tracking_code (or shipment_id): one names the shipment"
            )
        return self

    @property
    def order_reference(self) -> str:
        assert self.order_id is not None  # noqa: S101 -- guaranteed by the validator
        return self.order_id

    @property
    def shipment_reference(self) -> str:
        assert self.shipment_id is not None  # noqa: S101 -- guaranteed by the validator
        return self.shipment_id


class OrderStateResult(BaseModel):
    order_id: str
    requested_state: OrderState
    state: OrderState = Field(description="The order's state after the request.")
    recorded_as: str = Field(
        description="'applied'; 'late' (kept in states_history, the state stayed: lifecycle "
        "rule 2); or 'duplicate' (the order already was in this state: nothing changed)."
    )
    version: int
    message: str


class TagsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_tags: TagMap


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_key: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    token: str
    token_type: str = "Bearer"  # noqa: S105 -- the scheme name, not a secret
    expires_at: datetime
    expires_in: int = Field(description="Seconds until the token expires.")
