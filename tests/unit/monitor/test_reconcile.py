"""Which alerts an order's deadlines come to: raise when due, clear when the deadline is gone."""

from datetime import timedelta

from orderstate.domain import DEFAULT_ALERT_RULES, AlertRules, OrderState, OrderWatch
from orderstate.events.alerts import AlertClearedOut, AlertRaisedOut, ClearedBecause, alert_id
from orderstate.events.envelope import CloudEvent, decode_kafka
from orderstate.monitor.alerting import Change, OpenAlert, Reconciled, alert_data, reconcile
from orderstate.monitor.decisions import alert_output

S = OrderState
H = 3_600_000
T0 = 1_772_443_800_000  # 2026-03-02T09:30:00Z
PAID_DUE = T0 + 48 * H
PAID_ID = alert_id("shop-1", "O-1", "state_deadline.paid", PAID_DUE)


def _paid(**changes: object) -> OrderWatch:
    values: dict[str, object] = {
        "state": S.PAID,
        "state_since_ms": T0,
        "shipped_at_ms": None,
        "boarding_complete": False,
        "promised_ms": None,
        "deleted": False,
        **changes,
    }
    return OrderWatch(**values)  # type: ignore[arg-type]


def _reconcile(
    watch: OrderWatch,
    now: int | None,
    opened: dict[str, OpenAlert] | None = None,
    rules: AlertRules = DEFAULT_ALERT_RULES,
) -> Reconciled:
    return reconcile(
        shop_id="shop-1",
        order_id="O-1",
        watch=watch,
        open_alerts=opened or {},
        rules=rules,
        now_ms=now,
    )


OPEN = {PAID_ID: OpenAlert("state_deadline.paid", PAID_DUE, T0, PAID_DUE + 5)}


def test_nothing_before_the_deadline_and_the_deadline_is_next() -> None:
    result = _reconcile(_paid(), PAID_DUE - 1)
    assert result.changes == []
    assert result.next_due_ms == PAID_DUE


def test_raised_at_the_deadline_with_the_id_of_order_rule_and_deadline() -> None:
    result = _reconcile(_paid(), PAID_DUE)
    assert result.changes == [
        Change(PAID_ID, OpenAlert("state_deadline.paid", PAID_DUE, T0, PAID_DUE))
    ]
    assert result.next_due_ms is None


def test_an_open_alert_stays_open_while_its_deadline_does() -> None:
    """Even when the time is behind it (after a restart it restarts from the stream)."""
    assert _reconcile(_paid(), PAID_DUE + H, OPEN).changes == []
    assert _reconcile(_paid(), T0, OPEN).changes == []
    assert _reconcile(_paid(), None, OPEN).changes == []


def test_cleared_when_the_order_moved_on() -> None:
    prepared = _paid(state=S.IN_PREPARATION, state_since_ms=PAID_DUE)
    [cleared] = _reconcile(prepared, PAID_DUE + H, OPEN).changes
    assert cleared == Change(PAID_ID, OPEN[PAID_ID], ClearedBecause.MOVED_ON)
    assert cleared.kind == "alert.cleared"


def test_cleared_when_deleted() -> None:
    [cleared] = _reconcile(_paid(deleted=True), PAID_DUE + H, OPEN).changes
    assert cleared.because is ClearedBecause.DELETED


def test_cleared_when_the_rule_is_gone() -> None:
    rules = AlertRules(state_deadlines={})
    [cleared] = _reconcile(_paid(), PAID_DUE + H, OPEN, rules).changes
    assert cleared.because is ClearedBecause.RULE_REMOVED


def test_a_changed_deadline_clears_the_old_alert_and_raises_the_new_one() -> None:
    rules = AlertRules(state_deadlines={S.PAID: timedelta(hours=12)})
    new_due = T0 + 12 * H
    cleared, raised = _reconcile(_paid(), PAID_DUE + H, OPEN, rules).changes
    assert cleared.because is ClearedBecause.DEADLINE_CHANGED
    assert raised.alert_id == alert_id("shop-1", "O-1", "state_deadline.paid", new_due)


def test_without_a_time_nothing_is_raised_but_gone_deadlines_clear() -> None:
    assert _reconcile(_paid(), None).changes == []
    assert _reconcile(_paid(), None).next_due_ms == PAID_DUE
    [cleared] = _reconcile(_paid(state=S.CANCELLED), None, OPEN).changes
    assert cleared.because is ClearedBecause.MOVED_ON


def test_alert_data_is_the_published_payload() -> None:
    [change] = _reconcile(_paid(), PAID_DUE + 1000).changes
    assert alert_data(
        change, order_id="O-1", state="paid", order_version=3, now_ms=PAID_DUE + 1000
    ) == {
        "alert_id": PAID_ID,
        "rule": "state_deadline.paid",
        "order_id": "O-1",
        "state": "paid",
        "since": "2026-03-02T09:30:00Z",
        "deadline": "2026-03-04T09:30:00Z",
        "raised_at": "2026-03-04T09:30:01Z",
        "order_version": 3,
    }
    cleared = Change(PAID_ID, change.alert, ClearedBecause.MOVED_ON)
    data = alert_data(
        cleared, order_id="O-1", state="shipped", order_version=4, now_ms=PAID_DUE + H
    )
    assert (data["cleared_at"], data["cleared_because"]) == ("2026-03-04T10:30:00Z", "moved_on")


def test_the_published_events_follow_the_contract() -> None:
    """What the monitor publishes validates against the models the schemas come from."""
    [change] = _reconcile(_paid(), PAID_DUE + 1000).changes
    row = {"w": ["paid", T0, None, False, None, False], "v": 3}
    raised, stored = alert_output(
        change, shop_id="shop-1", order_id="O-1", row=row, now_ms=PAID_DUE + 1000, topic="t"
    )
    event = decode_kafka(raised.headers, raised.value, max_bytes=10**6, max_depth=32)
    assert isinstance(event, CloudEvent)
    assert (event.type, event.subject, event.key) == (
        "alert.raised",
        "state_deadline.paid",
        "shop-1:O-1",
    )
    AlertRaisedOut.model_validate(event.data)
    assert (stored.alert_id, stored.cleared_at_ms) == (PAID_ID, None)
    cleared, stored = alert_output(
        Change(PAID_ID, change.alert, ClearedBecause.MOVED_ON),
        shop_id="shop-1",
        order_id="O-1",
        row=row,
        now_ms=PAID_DUE + H,
        topic="t",
    )
    event = decode_kafka(cleared.headers, cleared.value, max_bytes=10**6, max_depth=32)
    AlertClearedOut.model_validate(event.data)
    assert event.id != decode_kafka(raised.headers, raised.value, max_bytes=10**6, max_depth=32).id
    assert (stored.cleared_at_ms, stored.cleared_because) == (PAID_DUE + H, "moved_on")
