"""The monitor's alert rules as data: defaults, per-shop overrides, validation on load."""

from datetime import timedelta

import pytest

from orderstate.domain import (
    DEFAULT_ALERT_RULES,
    DEFAULT_POLICY,
    OrderState,
    PolicyError,
    load_policy_book,
)
from tests.unit.domain.factories import STRICT_TABLE

S = OrderState


def _error(data: dict[str, object]) -> str:
    with pytest.raises(PolicyError) as error:
        load_policy_book(data)
    return str(error.value)


def test_built_in_defaults() -> None:
    """paid within 48 h, in_preparation within 24 h, shipped within 10 days; delayed orders;
    boarding still open 3 days after shipping; a shipment parked over an hour."""
    rules = DEFAULT_POLICY.alerts
    assert dict(rules.state_deadlines) == {
        S.PAID: timedelta(hours=48),
        S.IN_PREPARATION: timedelta(hours=24),
        S.SHIPPED: timedelta(days=10),
    }
    assert rules.order_delayed is True
    assert rules.boarding_open == timedelta(days=3)
    assert rules.parked_too_long == timedelta(hours=1)
    assert rules.rule_ids() == [
        "state_deadline.paid",
        "state_deadline.in_preparation",
        "state_deadline.shipped",
        "order_delayed",
        "boarding_open",
        "parked_too_long",
    ]


def test_a_file_without_alerts_keeps_the_built_in_rules() -> None:
    book = load_policy_book({"shops": {"s-strict": {"transitions": STRICT_TABLE}}})
    assert book.for_shop("s-strict").alerts == DEFAULT_ALERT_RULES
    assert book.for_shop("anyone").alerts == DEFAULT_ALERT_RULES


def test_default_rules_change_every_shop() -> None:
    book = load_policy_book(
        {"alerts": {"default": {"state_deadlines": {"new": "2h"}, "parked_too_long": "10m"}}}
    )
    rules = book.for_shop("anyone").alerts
    assert rules.state_deadlines[S.NEW] == timedelta(hours=2)
    assert rules.state_deadlines[S.PAID] == timedelta(hours=48)
    assert rules.parked_too_long == timedelta(minutes=10)


def test_a_shop_overrides_state_by_state_and_null_turns_a_rule_off() -> None:
    book = load_policy_book(
        {
            "alerts": {
                "default": {"state_deadlines": {"new": "2h"}},
                "shops": {
                    "s-express": {
                        "state_deadlines": {"paid": "4h", "shipped": None},
                        "order_delayed": False,
                        "boarding_open": None,
                    }
                },
            }
        }
    )
    express = book.for_shop("s-express")
    assert dict(express.alerts.state_deadlines) == {
        S.NEW: timedelta(hours=2),
        S.PAID: timedelta(hours=4),
        S.IN_PREPARATION: timedelta(hours=24),
    }
    assert express.alerts.order_delayed is False
    assert express.alerts.boarding_open is None
    # Only the alerts are the shop's own: it keeps the default transitions.
    assert express.transitions == DEFAULT_POLICY.transitions
    assert express.name == "shop s-express"
    assert book.for_shop("other").alerts.state_deadlines[S.PAID] == timedelta(hours=48)


def test_a_shop_with_its_own_table_keeps_it_and_gets_the_default_rules() -> None:
    book = load_policy_book(
        {
            "shops": {"s-strict": {"transitions": STRICT_TABLE}},
            "alerts": {"default": {"parked_too_long": "5m"}},
        }
    )
    strict = book.for_shop("s-strict")
    assert strict.transitions[S.NEW] == frozenset({S.PAID, S.CANCELLED})
    assert strict.alerts.parked_too_long == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("48h", timedelta(hours=48)),
        ("10d", timedelta(days=10)),
    ],
)
def test_durations(value: str, expected: timedelta) -> None:
    book = load_policy_book({"alerts": {"default": {"boarding_open": value}}})
    assert book.default.alerts.boarding_open == expected


@pytest.mark.parametrize("value", ["2 days", "0h", "-1h", "1.5h", "48", 48, True, "1w"])
def test_a_malformed_duration_is_refused(value: object) -> None:
    assert _error({"alerts": {"default": {"boarding_open": value}}}) == (
        "alerts 'default': boarding_open must be a duration such as '90s', '30m', '48h' or "
        f"'10d' (or null to turn it off), not {value!r}"
    )


def test_a_deadline_on_a_state_nothing_follows_is_refused() -> None:
    """refunded is terminal (rule 7): an alert on it could be raised but never cleared."""
    assert _error({"alerts": {"shops": {"s-1": {"state_deadlines": {"refunded": "1d"}}}}}) == (
        "alerts 'shop s-1': a deadline on 'refunded' could never clear: the policy lets nothing "
        "follow 'refunded'"
    )


def test_deadlines_are_checked_against_the_shops_own_table() -> None:
    """A shop whose table lets nothing follow returned cannot watch it; another shop can."""
    table = {**STRICT_TABLE, "returned": []}
    assert _error(
        {
            "shops": {"s-final": {"transitions": table}},
            "alerts": {"default": {"state_deadlines": {"returned": "7d"}}},
        }
    ) == (
        "alerts 'shop s-final': a deadline on 'returned' could never clear: the policy lets "
        "nothing follow 'returned'"
    )
    book = load_policy_book({"alerts": {"default": {"state_deadlines": {"returned": "7d"}}}})
    assert book.default.alerts.state_deadlines[S.RETURNED] == timedelta(days=7)


def test_unknown_state_and_keys_are_refused() -> None:
    assert _error({"alerts": {"default": {"state_deadlines": {"payed": "1h"}}}}).startswith(
        "alerts 'default': unknown state 'payed' in 'state_deadlines'; states are new, paid"
    )
    assert _error({"alerts": {"default": {"stalled": {}}}}) == (
        "alerts 'default': unknown keys ['stalled']; expected ['boarding_open', "
        "'order_delayed', 'parked_too_long', 'state_deadlines']"
    )
    assert _error({"alerts": {"shop": {}}}) == (
        "policy configuration: unknown keys ['shop'] in 'alerts'; expected 'default' and/or 'shops'"
    )
    assert _error({"alerts": {"default": {"order_delayed": "yes"}}}) == (
        "alerts 'default': 'order_delayed' must be true or false"
    )
    assert _error({"alerts": {"shops": {"s-1": ["paid"]}}}) == (
        "policy configuration: 'alerts.shops.s-1' must be a mapping"
    )
