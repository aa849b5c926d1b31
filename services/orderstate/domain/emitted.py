"""Facts ``decide`` emits for an accepted change.

Emitted facts become outbound events (``orderstate.events.outbound``); each
carries the order version after the change, which is the outbound
``sequence``. One change may emit several facts with the same version (a
shipment link emits ``ShipmentLinked`` and the move to ``shipped``).
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from orderstate.domain.model import ShipmentDirection
from orderstate.domain.states import OrderState

__all__ = [
    "BoardingCompleted",
    "Emitted",
    "LateEventRecorded",
    "OrderDeleted",
    "OrderUpdated",
    "ShipmentLinked",
    "StateChanged",
]


class Emitted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    cause_event_id: str
    occurred_at: datetime
    # Published for an order imported by `orderstate backfill --emit`, not for a live change.
    backfill: bool = False


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
