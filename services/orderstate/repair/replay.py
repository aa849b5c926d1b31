"""Deciding events again without writing anything: one order's events in turn through
``decide``, as the worker's write path (projector/apply.py) would decide them.

Pure: the caller loads the order as it was and the policy, and gets an outcome per event. The
outcomes are named as the worker names them in ``processed_events.outcome``, so a prediction
can be compared with what the worker then did. What the write path adds around ``decide``
is followed: a shipment event for an order not known yet waits for it (parked) and is decided
when the order is created; an event that REST answered is rejected ``unknown_order`` instead
of waiting; an exception costs that event alone (``internal_error``). Not followed: parked
events that expire on the log clock (they stay ``parked``), and ``order_too_large``, which
depends on the size of the published event.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from orderstate.domain import (
    Accepted,
    Change,
    Effect,
    OrderState,
    OrderView,
    Parked,
    Policy,
    ReasonCode,
    Rejected,
    decide,
)

__all__ = ["Outcome", "Step", "replay_order"]


@dataclass(frozen=True, slots=True)
class Step:
    """One event to decide: its change, whether REST answered it (no parking), and the
    clock the decision is written with (it decides nothing)."""

    change: Change
    now: datetime
    from_api: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    # applied, late, duplicate, rejected, parked, or parked_then_<one of the first four>
    kind: str
    reason: ReasonCode | None = None
    # The order's state right after this event was decided (None: no order).
    state: OrderState | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.reason.value}" if self.reason is not None else self.kind


def replay_order(
    view: OrderView | None, steps: Iterable[Step], policy: Policy
) -> tuple[list[Outcome], OrderView | None]:
    """The outcome of each step, in order, and the order after the last one."""
    outcomes: list[Outcome] = []
    waiting: list[tuple[int, Step]] = []
    for index, step in enumerate(steps):
        before = view
        outcome, view = _one(view, step, policy)
        if outcome.kind == "parked":
            waiting.append((index, step))
        outcomes.append(outcome)
        created = view is not None and not view.deleted and (before is None or before.deleted)
        if created and waiting:
            for parked_index, parked in waiting:
                later, view = _one(view, Step(parked.change, step.now), policy)
                outcomes[parked_index] = Outcome(
                    f"parked_then_{later.kind}", later.reason, later.state
                )
            waiting.clear()
    return outcomes, view


def _one(view: OrderView | None, step: Step, policy: Policy) -> tuple[Outcome, OrderView | None]:
    try:
        decision = decide(view, step.change, policy, step.now)
    except Exception:  # the worker rejects the event and goes on; so does the prediction
        return Outcome("rejected", ReasonCode.INTERNAL_ERROR, _state(view)), view
    if isinstance(decision, Parked):
        if step.from_api:
            return Outcome("rejected", ReasonCode.UNKNOWN_ORDER, _state(view)), view
        return Outcome("parked", None, _state(view)), view
    if isinstance(decision, Rejected):
        return Outcome("rejected", decision.reason, _state(view)), view
    assert isinstance(decision, Accepted)  # noqa: S101 -- Decision has three kinds
    # A duplicate changes nothing; the write path keeps the view it had.
    after = view if decision.effect is Effect.DUPLICATE else decision.new_view
    return Outcome(decision.effect.value, None, _state(after)), after


def _state(view: OrderView | None) -> OrderState | None:
    return None if view is None or view.deleted else view.state
