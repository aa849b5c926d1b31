"""Facts ``decide`` emits for an accepted change, and the outcomes it returns.

Emitted facts become outbound events (``orderstate.events.outbound``); each
carries the order version after the change, which is the outbound
``sequence``. One change may emit several facts with the same version (a
shipment link emits ``ShipmentLinked`` and the move to ``shipped``).
"""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from orderstate.domain.model import OrderView, ShipmentDirection
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import OrderState

__all__ = [
    "Accepted",
    "BoardingCompleted",
    "Decision",
    "Effect",
    "Emitted",
    "LateEventRecorded",
    "OrderDeleted",
    "OrderUpdated",
    "Parked",
    "Rejected",
    "ShipmentLinked",
    "StateChanged",
]


class Emitted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    cause_event_id: str
    occurred_at: datetime


class StateChanged(Emitted):
    # None when the order was just created.
    from_state: OrderState | None
    to_state: OrderState


class BoardingCompleted(Emitted):
    pass


class ShipmentLinked(Emitted):
    shipment_id: str
    direction: ShipmentDirection


class LateEventRecorded(Emitted):
    state: OrderState
    current_state: OrderState


class OrderUpdated(Emitted):
    """Any other accepted change (fields, items, tags, shipment status): carries no state move,
    but keeps the outbound ``sequence`` gap-free so consumers can detect a missed event."""

    change: str


class OrderDeleted(Emitted):
    pass


class Effect(StrEnum):
    APPLIED = "applied"
    # Recorded in history as late; the current state stayed (rule 2).
    LATE = "late"
    # Nothing changed: the order already was as requested (rule 3).
    DUPLICATE = "duplicate"


class Accepted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    new_view: OrderView
    emitted: tuple[Emitted, ...]
    effect: Effect = Effect.APPLIED


class Rejected(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: ReasonCode
    message: str


class Parked(BaseModel):
    """A shipment event for an order not known yet: keep it until the order arrives (rule 9)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    expires_at: datetime
    message: str


Decision = Accepted | Rejected | Parked
