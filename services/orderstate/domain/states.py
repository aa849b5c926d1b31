"""Order states and the track they move along.

Settable states are what shops may request. ``shipped`` and ``completed`` are
derived: the service sets them, as Seven Senders does, when the first outbound
shipment is linked and when boarding is complete and every outbound shipment
is delivered.
"""

from enum import StrEnum

__all__ = [
    "CLOSED_STATES",
    "DERIVED_STATES",
    "SETTABLE_STATES",
    "TRACK",
    "OrderState",
    "track_rank",
]


class OrderState(StrEnum):
    NEW = "new"
    PAID = "paid"
    IN_PRODUCTION = "in_production"
    WAREHOUSE_HANDOVER = "warehouse_handover"
    IN_PREPARATION = "in_preparation"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    RETURNED = "returned"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


TRACK: tuple[OrderState, ...] = (
    OrderState.NEW,
    OrderState.PAID,
    OrderState.IN_PRODUCTION,
    OrderState.WAREHOUSE_HANDOVER,
    OrderState.IN_PREPARATION,
    OrderState.SHIPPED,
    OrderState.COMPLETED,
)

DERIVED_STATES = frozenset({OrderState.SHIPPED, OrderState.COMPLETED})
SETTABLE_STATES = frozenset(OrderState) - DERIVED_STATES

# Off the track: once here, a track state can only arrive late (rule 8).
CLOSED_STATES = frozenset({OrderState.CANCELLED, OrderState.RETURNED, OrderState.REFUNDED})

_RANK = {state: rank for rank, state in enumerate(TRACK)}


def track_rank(state: OrderState) -> int | None:
    """Position on the track, or None for the closed states that sit beside it."""
    return _RANK.get(state)
