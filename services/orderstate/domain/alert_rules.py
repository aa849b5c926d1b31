"""Alert rules as data: the deadlines the order monitor watches, per shop.

Four kinds of rule (docs/monitor.md):

- ``state_deadline.<state>``: an order must leave ``<state>`` within a duration (``paid``
  within 48 h, ``in_preparation`` within 24 h, ``shipped`` within 10 days);
- ``order_delayed``: ``promised_delivery_date`` passed and the order is not completed;
- ``boarding_open``: ``boarding_complete`` still false a duration after ``shipped``;
- ``parked_too_long``: a shipment has waited for its order longer than a duration.

They live in the policy file beside the transition tables, under ``alerts``::

    alerts:
      default:                                  # optional: changes the built-in defaults
        state_deadlines: {paid: 48h, in_preparation: 24h, shipped: 10d}
        order_delayed: true
        boarding_open: 3d                       # null turns a rule off
        parked_too_long: 1h
      shops:
        shop-express:                           # only what differs from the default
          state_deadlines: {paid: 4h, shipped: null}

A shop's rules are the default rules with the shop's keys laid over them, state by state for
``state_deadlines``. Durations are a whole number with ``s``, ``m``, ``h`` or ``d``. Rules are
validated when the file is loaded, against the shop's own transition table: a deadline on a
state that nothing can follow (``refunded``, ``completed`` under the default table) could
only ever fire, never clear, and is refused.
"""

import re
from collections.abc import Callable, Mapping
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from orderstate.domain.states import OrderState

__all__ = [
    "DEFAULT_ALERT_RULES",
    "AlertRules",
    "Rule",
    "load_alert_rules",
    "state_deadline_rule",
]

S = OrderState


class Rule:
    """The rule ids that are not per state; ``state_deadline_rule`` names the others."""

    ORDER_DELAYED = "order_delayed"
    BOARDING_OPEN = "boarding_open"
    PARKED_TOO_LONG = "parked_too_long"


_STATE_DEADLINE = "state_deadline"


def state_deadline_rule(state: OrderState) -> str:
    """``state_deadline.paid``: the id of the deadline on one state."""
    return f"{_STATE_DEADLINE}.{state.value}"


class AlertRules(BaseModel):
    """The deadlines watched for one shop; ``None`` turns a rule off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_deadlines: Mapping[OrderState, timedelta] = {
        S.PAID: timedelta(hours=48),
        S.IN_PREPARATION: timedelta(hours=24),
        S.SHIPPED: timedelta(days=10),
    }
    order_delayed: bool = True
    boarding_open: timedelta | None = timedelta(days=3)
    parked_too_long: timedelta | None = timedelta(hours=1)

    def rule_ids(self) -> list[str]:
        """Every rule this shop watches, for metrics and documentation."""
        ids = [state_deadline_rule(s) for s in sorted(self.state_deadlines, key=list(S).index)]
        if self.order_delayed:
            ids.append(Rule.ORDER_DELAYED)
        if self.boarding_open is not None:
            ids.append(Rule.BOARDING_OPEN)
        if self.parked_too_long is not None:
            ids.append(Rule.PARKED_TOO_LONG)
        return ids


DEFAULT_ALERT_RULES = AlertRules()

_KEYS = frozenset({"state_deadlines", "order_delayed", "boarding_open", "parked_too_long"})
_DURATION = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def load_alert_rules(
    data: Mapping[str, object],
    *,
    base: AlertRules,
    name: str,
    can_follow: Callable[[OrderState], bool],
    error: Callable[[str], Exception],
) -> AlertRules:
    """``base`` with the keys of ``data`` laid over it. ``can_follow(state)`` says whether the
    shop's policy lets anything follow ``state``; ``error`` builds the exception to raise."""
    unknown = set(data) - _KEYS
    if unknown:
        raise error(f"alerts {name!r}: unknown keys {sorted(unknown)}; expected {sorted(_KEYS)}")
    deadlines = dict(base.state_deadlines)
    raw = data.get("state_deadlines", {})
    if not isinstance(raw, Mapping):
        raise error(f"alerts {name!r}: 'state_deadlines' must map states to durations")
    for state_name, value in raw.items():
        try:
            state = OrderState(str(state_name))
        except ValueError:
            valid = ", ".join(s.value for s in OrderState)
            raise error(
                f"alerts {name!r}: unknown state {state_name!r} in 'state_deadlines'; states "
                f"are {valid}"
            ) from None
        if value is None:
            deadlines.pop(state, None)
            continue
        deadlines[state] = _duration(value, f"state_deadlines.{state.value}", name, error)
    for state in sorted(deadlines, key=list(S).index):
        if not can_follow(state):
            raise error(
                f"alerts {name!r}: a deadline on {state.value!r} could never clear: the policy "
                f"lets nothing follow {state.value!r}"
            )
    order_delayed = data.get("order_delayed", base.order_delayed)
    if not isinstance(order_delayed, bool):
        raise error(f"alerts {name!r}: 'order_delayed' must be true or false")
    return AlertRules(
        state_deadlines=deadlines,
        order_delayed=order_delayed,
        boarding_open=_optional(data, "boarding_open", base.boarding_open, name, error),
        parked_too_long=_optional(data, "parked_too_long", base.parked_too_long, name, error),
    )


def _optional(
    data: Mapping[str, object],
    key: str,
    default: timedelta | None,
    name: str,
    error: Callable[[str], Exception],
) -> timedelta | None:
    if key not in data:
        return default
    value = data[key]
    return None if value is None else _duration(value, key, name, error)


def _duration(value: object, where: str, name: str, error: Callable[[str], Exception]) -> timedelta:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise error(
            f"alerts {name!r}: {where} must be a duration such as '90s', '30m', '48h' or '10d' "
            f"(or null to turn it off), not {value!r}"
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})
