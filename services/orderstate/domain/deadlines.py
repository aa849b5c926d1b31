"""What the order monitor keeps of an order, and which deadlines that order has.

Pure functions over plain values, so the monitor's rules are specified and tested like the
lifecycle: no clock (the caller says what time it is), no Kafka, no faust. Times are whole
milliseconds since the epoch (UTC), the form the monitor stores and compares them in.

- ``watch_after`` folds one order event (the snapshot it carries and its event time) into the
  ``OrderWatch``: the state, since when the order has been in it (event time of the change
  that entered it), when it shipped, boarding, the promised delivery date.
- ``deadlines`` lists the deadlines a watch has under a shop's ``AlertRules``. A deadline is
  *due* once the caller's time has reached it; the monitor raises an alert for every due
  deadline and clears the alert once the deadline is gone from the list (the order moved on,
  its promised date changed, it was deleted).
"""

from dataclasses import dataclass
from datetime import timedelta

from orderstate.domain.alert_rules import AlertRules, Rule, state_deadline_rule
from orderstate.domain.states import CLOSED_STATES, OrderState

__all__ = ["Deadline", "OrderWatch", "deadlines", "watch_after"]

S = OrderState

# A promised delivery date no longer matters once the order is delivered or closed.
_NOT_DELAYABLE = CLOSED_STATES | {S.COMPLETED}


@dataclass(frozen=True, slots=True)
class OrderWatch:
    state: OrderState
    # Event time of the change that put the order into ``state``.
    state_since_ms: int
    # Event time of the move to ``shipped``; kept after it.
    shipped_at_ms: int | None
    boarding_complete: bool
    promised_ms: int | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class Deadline:
    rule: str
    # When the deadline passes, and when the watched condition began (state entered, shipped,
    # the promised date itself).
    due_ms: int
    since_ms: int


def watch_after(
    previous: OrderWatch | None,
    *,
    state: OrderState,
    boarding_complete: bool,
    promised_ms: int | None,
    deleted: bool,
    occurred_ms: int,
) -> OrderWatch:
    """The watch after one order event: the snapshot's fields, the event's time.

    An order seen first in a state (the monitor started after the order did) counts as having
    entered it at this event: a deadline then fires late rather than early.
    """
    entered = previous is None or previous.state is not state or previous.deleted != deleted
    shipped_at = previous.shipped_at_ms if previous is not None else None
    if state is S.SHIPPED and (entered or shipped_at is None):
        shipped_at = occurred_ms
    return OrderWatch(
        state=state,
        state_since_ms=occurred_ms if entered or previous is None else previous.state_since_ms,
        shipped_at_ms=shipped_at,
        boarding_complete=boarding_complete,
        promised_ms=promised_ms,
        deleted=deleted,
    )


def _ms(duration: timedelta) -> int:
    return int(duration.total_seconds() * 1000)


def deadlines(watch: OrderWatch, rules: AlertRules) -> list[Deadline]:
    """Every deadline the order has now, due or not; none for a deleted order."""
    if watch.deleted:
        return []
    found = []
    stay = rules.state_deadlines.get(watch.state)
    if stay is not None:
        since = watch.state_since_ms
        found.append(Deadline(state_deadline_rule(watch.state), since + _ms(stay), since))
    if rules.order_delayed and watch.promised_ms is not None and watch.state not in _NOT_DELAYABLE:
        found.append(Deadline(Rule.ORDER_DELAYED, watch.promised_ms, watch.promised_ms))
    if (
        rules.boarding_open is not None
        and watch.state is S.SHIPPED
        and watch.shipped_at_ms is not None
        and not watch.boarding_complete
    ):
        since = watch.shipped_at_ms
        found.append(Deadline(Rule.BOARDING_OPEN, since + _ms(rules.boarding_open), since))
    return found
