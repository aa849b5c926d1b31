"""Request bodies of the REST API.

They reuse the inbound event payload models, so a REST write and a Kafka event
are validated by the same rules; only what HTTP carries differently (the order
id in the body or the path) is added here.
"""

from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from orderstate.domain import OrderState
from orderstate.events.fields import Location, OrderId, TagMap
from orderstate.events.inbound import OrderCreatedData

__all__ = [
    "OrderCreate",
    "OrderStateCreate",
    "OrderStateResult",
    "TagsBody",
    "TokenRequest",
    "TokenResponse",
]


class OrderCreate(OrderCreatedData):
    order_id: OrderId = Field(description="The shop's own order reference.")


class OrderStateCreate(BaseModel):
    """Seven Senders ``POST /order-states``: ``order_id`` (or the legacy ``shop_order_id``)."""

    model_config = ConfigDict(extra="forbid")

    order_id: OrderId | None = None
    shop_order_id: OrderId | None = Field(default=None, description="Legacy name of order_id.")
    state: OrderState
    datetime: AwareDatetime = Field(description="When the order reached the state at the shop.")
    location: Location | None = None
    expected_version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_order_reference(self) -> Self:
        if (self.order_id is None) == (self.shop_order_id is None):
            raise ValueError("give exactly one of order_id and shop_order_id")
        return self

    @property
    def reference(self) -> str:
        reference = self.order_id or self.shop_order_id
        assert reference is not None  # noqa: S101 -- guaranteed by the validator
        return reference


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
