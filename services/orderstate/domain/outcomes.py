"""What ``decide`` returns, and the constructors the rule modules build it with.

A decision is ``Accepted`` (the new view and the facts to publish), ``Rejected``
(a reason code and a message for the shop developer) or ``Parked`` (a shipment
event waiting for its order). The constructors make every accepted change
alike: version plus one, ``updated_at`` from the caller's clock, and a state
move always leaves a history entry and a ``StateChanged`` fact.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from orderstate.domain.changes import Change
from orderstate.domain.emitted import Emitted, StateChanged
from orderstate.domain.model import HistoryEntry, OrderView
from orderstate.domain.policy import Policy
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import OrderState

__all__ = [
    "Accepted",
    "Decision",
    "Effect",
    "Parked",
    "Rejected",
    "accept",
    "allowed_next_text",
    "duplicate",
    "move_to",
    "reject",
]


class Effect(StrEnum):
    APPLIED = "applied"
    # Recorded in history as late; the current state stayed (rule 2).
    LATE = "late"
    # Nothing changed: the order already was as requested (rule 3).
    DUPLICATE = "duplicate"


# The outcomes are frozen dataclasses, not pydantic models: only decide builds them, from values
# that are already valid, and it builds one for every event, where validating them again cost
# about twice the construction (bench/results-worker-cost.md).
@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    new_view: OrderView
    emitted: tuple[Emitted, ...]
    effect: Effect = Effect.APPLIED


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    reason: ReasonCode
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Parked:
    """A shipment event for an order not known yet: keep it until the order arrives (rule 9)."""

    expires_at: datetime
    message: str


Decision = Accepted | Rejected | Parked


def accept(
    view: OrderView,
    now: datetime,
    emitted: list[Emitted],
    *,
    effect: Effect = Effect.APPLIED,
    **updates: Any,
) -> Accepted:
    new_view = view.evolve(**updates, version=view.version + 1, updated_at=now)
    return Accepted(new_view=new_view, emitted=tuple(emitted), effect=effect)


def duplicate(view: OrderView) -> Accepted:
    return Accepted(new_view=view, emitted=(), effect=Effect.DUPLICATE)


def reject(reason: ReasonCode, message: str) -> Rejected:
    return Rejected(reason=reason, message=message)


def move_to(
    view: OrderView,
    state: OrderState,
    change: Change,
    now: datetime,
    *,
    location: str | None = None,
) -> tuple[dict[str, Any], StateChanged]:
    """View updates and the emitted fact for moving ``view`` to ``state`` at version + 1."""
    entry = HistoryEntry(
        state=state,
        occurred_at=change.occurred_at,
        recorded_at=now,
        cause_event_id=change.event_id,
        location=location,
    )
    fact = StateChanged(
        version=view.version + 1,
        cause_event_id=change.event_id,
        occurred_at=change.occurred_at,
        from_state=view.state,
        to_state=state,
    )
    return {"state": state, **view.recording([entry])}, fact


def allowed_next_text(policy: Policy, state: OrderState) -> str:
    allowed = sorted(policy.allowed_after(state), key=list(OrderState).index)
    if not allowed:
        return f"no state may follow {state.value}"
    return "allowed next states: " + ", ".join(s.value for s in allowed)
