"""Small constructors shared by the rule modules, so every accepted change is built alike:
version plus one, ``updated_at`` from the caller's clock, and a state move always
leaves a history entry and a ``StateChanged`` fact."""

from datetime import datetime
from typing import Any

from orderstate.domain.changes import Change
from orderstate.domain.emitted import Accepted, Effect, Emitted, Rejected, StateChanged
from orderstate.domain.model import HistoryEntry, OrderView
from orderstate.domain.policy import Policy
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import OrderState

__all__ = [
    "accept",
    "allowed_next_text",
    "duplicate",
    "move_to",
    "reject",
]


def accept(
    view: OrderView,
    now: datetime,
    emitted: list[Emitted],
    *,
    effect: Effect = Effect.APPLIED,
    **updates: Any,
) -> Accepted:
    new_view = view.model_copy(update={**updates, "version": view.version + 1, "updated_at": now})
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
    history: tuple[HistoryEntry, ...] | None = None,
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
    base = view.history if history is None else history
    fact = StateChanged(
        version=view.version + 1,
        cause_event_id=change.event_id,
        occurred_at=change.occurred_at,
        from_state=view.state,
        to_state=state,
    )
    return {"state": state, "history": (*base, entry)}, fact


def allowed_next_text(policy: Policy, state: OrderState) -> str:
    allowed = sorted(policy.allowed_after(state), key=list(OrderState).index)
    if not allowed:
        return f"no state may follow {state.value}"
    return "allowed next states: " + ", ".join(s.value for s in allowed)
