"""parked_too_long: from what PostgreSQL says is parked to alerts raised and cleared."""

from orderstate.domain import PolicyBook, load_policy_book
from orderstate.events.alerts import ClearedBecause, alert_id
from orderstate.monitor.parked import parked_changes
from orderstate.monitor.store import OpenParkedAlert, ParkedOrder

M = 60_000
T0 = 1_772_443_800_000
DUE = T0 + 60 * M  # the default limit is one hour
AID = alert_id("shop-1", "O-9", "parked_too_long", DUE)


def test_raised_once_the_first_shipment_waited_longer_than_the_limit() -> None:
    parked = [ParkedOrder("shop-1", "O-9", T0, waiting=2)]
    assert parked_changes(parked, [], PolicyBook(), DUE - 1) == []
    [(shop, order, change)] = parked_changes(parked, [], PolicyBook(), DUE + 5)
    assert (shop, order, change.alert_id, change.because) == ("shop-1", "O-9", AID, None)
    assert (change.alert.due_ms, change.alert.since_ms, change.alert.raised_at_ms) == (
        DUE,
        T0,
        DUE + 5,
    )


def test_an_open_alert_is_not_raised_again() -> None:
    parked = [ParkedOrder("shop-1", "O-9", T0, waiting=1)]
    opened = [OpenParkedAlert("shop-1", AID, "O-9", T0, DUE, DUE)]
    assert parked_changes(parked, opened, PolicyBook(), DUE + 60 * M) == []


def test_cleared_when_nothing_waits_for_the_order_any_more() -> None:
    opened = [OpenParkedAlert("shop-1", AID, "O-9", T0, DUE, DUE)]
    [(_, _, change)] = parked_changes([], opened, PolicyBook(), DUE + M)
    assert (change.alert_id, change.because) == (AID, ClearedBecause.UNPARKED)
    assert change.alert.raised_at_ms == DUE


def test_a_shop_limit_and_a_shop_without_the_rule() -> None:
    policies = load_policy_book(
        {
            "alerts": {
                "shops": {
                    "shop-fast": {"parked_too_long": "10m"},
                    "shop-off": {"parked_too_long": None},
                }
            }
        }
    )
    parked = [ParkedOrder("shop-fast", "F-1", T0, 1), ParkedOrder("shop-off", "X-1", T0, 1)]
    [(shop, _, change)] = parked_changes(parked, [], policies, T0 + 11 * M)
    assert (shop, change.alert.due_ms) == ("shop-fast", T0 + 10 * M)
    off_id = alert_id("shop-off", "X-1", "parked_too_long", DUE)
    opened = [OpenParkedAlert("shop-off", off_id, "X-1", T0, DUE, DUE)]
    [(_, _, cleared)] = parked_changes(parked[1:], opened, policies, DUE + M)
    assert cleared.because is ClearedBecause.RULE_REMOVED
