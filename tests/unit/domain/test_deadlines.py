"""Which deadlines an order has, from what its events say and when they happened."""

from datetime import timedelta

from orderstate.domain import (
    DEFAULT_ALERT_RULES,
    AlertRules,
    Deadline,
    OrderState,
    OrderWatch,
    deadlines,
    watch_after,
)

S = OrderState
H = 3_600_000
DAY = 24 * H
T0 = 1_772_443_800_000  # 2026-03-02T09:30:00Z


def _watch(
    state: OrderState,
    at: int,
    previous: OrderWatch | None = None,
    *,
    boarding_complete: bool = False,
    promised_ms: int | None = None,
    deleted: bool = False,
) -> OrderWatch:
    return watch_after(
        previous,
        state=state,
        occurred_ms=at,
        boarding_complete=boarding_complete,
        promised_ms=promised_ms,
        deleted=deleted,
    )


def test_a_paid_order_is_due_48_hours_after_it_was_paid() -> None:
    watch = _watch(S.PAID, T0 + H, _watch(S.NEW, T0))
    assert deadlines(watch, DEFAULT_ALERT_RULES) == [
        Deadline("state_deadline.paid", T0 + H + 48 * H, T0 + H)
    ]


def test_the_state_clock_starts_when_the_state_is_entered_not_at_later_events() -> None:
    """An item change or a late state keeps the order in its state: the deadline stays."""
    paid = _watch(S.PAID, T0 + H, _watch(S.NEW, T0))
    updated = _watch(S.PAID, T0 + 5 * H, paid)
    assert updated.state_since_ms == T0 + H
    assert deadlines(updated, DEFAULT_ALERT_RULES) == deadlines(paid, DEFAULT_ALERT_RULES)


def test_moving_on_replaces_the_deadline() -> None:
    paid = _watch(S.PAID, T0, _watch(S.NEW, T0))
    prepared = _watch(S.IN_PREPARATION, T0 + 2 * H, paid)
    assert deadlines(prepared, DEFAULT_ALERT_RULES) == [
        Deadline("state_deadline.in_preparation", T0 + 2 * H + 24 * H, T0 + 2 * H)
    ]


def test_a_state_without_a_rule_has_no_deadline() -> None:
    assert deadlines(_watch(S.NEW, T0), DEFAULT_ALERT_RULES) == []
    assert deadlines(_watch(S.IN_PRODUCTION, T0), DEFAULT_ALERT_RULES) == []


def test_order_delayed_is_due_at_the_promised_date_until_completed() -> None:
    promised = T0 + 3 * DAY
    new = _watch(S.NEW, T0, promised_ms=promised)
    assert deadlines(new, DEFAULT_ALERT_RULES) == [Deadline("order_delayed", promised, promised)]
    shipped = _watch(S.SHIPPED, T0 + DAY, new, promised_ms=promised, boarding_complete=True)
    assert Deadline("order_delayed", promised, promised) in deadlines(shipped, DEFAULT_ALERT_RULES)
    completed = _watch(S.COMPLETED, T0 + 4 * DAY, shipped, promised_ms=promised)
    assert deadlines(completed, DEFAULT_ALERT_RULES) == []


def test_a_closed_order_is_not_delayed() -> None:
    for closed in (S.CANCELLED, S.RETURNED, S.REFUNDED):
        watch = _watch(closed, T0, promised_ms=T0 + DAY)
        assert [d.rule for d in deadlines(watch, DEFAULT_ALERT_RULES)] == []


def test_a_new_promised_date_is_a_new_deadline() -> None:
    first = _watch(S.NEW, T0, promised_ms=T0 + DAY)
    moved = _watch(S.NEW, T0 + H, first, promised_ms=T0 + 2 * DAY)
    assert deadlines(moved, DEFAULT_ALERT_RULES) == [
        Deadline("order_delayed", T0 + 2 * DAY, T0 + 2 * DAY)
    ]


def test_boarding_open_is_due_three_days_after_shipping() -> None:
    shipped = _watch(S.SHIPPED, T0 + H, _watch(S.IN_PREPARATION, T0))
    assert Deadline("boarding_open", T0 + H + 3 * DAY, T0 + H) in deadlines(
        shipped, DEFAULT_ALERT_RULES
    )
    boarded = _watch(S.SHIPPED, T0 + 2 * H, shipped, boarding_complete=True)
    assert boarded.shipped_at_ms == T0 + H
    assert [d.rule for d in deadlines(boarded, DEFAULT_ALERT_RULES)] == ["state_deadline.shipped"]


def test_a_deleted_order_has_no_deadlines_and_a_recreated_one_starts_again() -> None:
    paid = _watch(S.PAID, T0, promised_ms=T0 + DAY)
    deleted = _watch(S.PAID, T0 + H, paid, deleted=True, promised_ms=T0 + DAY)
    assert deadlines(deleted, DEFAULT_ALERT_RULES) == []
    again = _watch(S.PAID, T0 + 2 * H, deleted)
    assert again.state_since_ms == T0 + 2 * H


def test_an_order_first_seen_mid_life_counts_from_that_event() -> None:
    """The monitor may start after the order did: the deadline fires late, never early."""
    watch = _watch(S.IN_PREPARATION, T0 + 5 * H)
    assert watch.state_since_ms == T0 + 5 * H


def test_a_shops_rules_decide() -> None:
    rules = AlertRules(
        state_deadlines={S.NEW: timedelta(minutes=30)}, order_delayed=False, boarding_open=None
    )
    new = _watch(S.NEW, T0, promised_ms=T0 + H)
    assert deadlines(new, rules) == [Deadline("state_deadline.new", T0 + 30 * 60_000, T0)]
