"""From an order's deadlines to alert events: which alerts to raise, which to clear.

``reconcile`` compares the deadlines an order has now (``domain.deadlines``) with the alerts
it has open, at the monitor's time for the order's partition:

- a deadline that is due and has no open alert is raised;
- an open alert whose deadline the order no longer has is cleared (it moved on, its promised
  date changed, it was deleted, the shop's rules changed);
- an open alert whose deadline is still there stays open, even when the monitor's time is
  behind it (after a restart the time starts from the stream again, and an alert raised by
  the wall clock must not flap).

Because the outcome depends only on the order's state, the rules and the time, running it
again after a crash, a redelivery or a replay gives the same alerts with the same ids.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orderstate.domain import AlertRules, Deadline, OrderWatch, deadlines
from orderstate.events.alerts import ClearedBecause, alert_id, ms_to_time
from orderstate.monitor.store import AlertRow

__all__ = ["Change", "OpenAlert", "Reconciled", "alert_data", "alert_row", "reconcile"]


@dataclass(frozen=True, slots=True)
class OpenAlert:
    rule: str
    due_ms: int
    since_ms: int
    raised_at_ms: int


@dataclass(frozen=True, slots=True)
class Change:
    """One alert event to publish: a raise (``because`` None) or a clear."""

    alert_id: str
    alert: OpenAlert
    because: ClearedBecause | None = None

    @property
    def kind(self) -> Literal["alert.raised", "alert.cleared"]:
        return "alert.raised" if self.because is None else "alert.cleared"


@dataclass(frozen=True, slots=True)
class Reconciled:
    changes: list[Change]
    # The earliest deadline not yet due: when to look at this order again.
    next_due_ms: int | None


def reconcile(
    *,
    shop_id: str,
    order_id: str,
    watch: OrderWatch,
    open_alerts: Mapping[str, OpenAlert],
    rules: AlertRules,
    now_ms: int | None,
) -> Reconciled:
    """``now_ms`` None: the monitor has no time for this partition yet; nothing is raised,
    but alerts of deadlines the order no longer has are still cleared."""
    current = deadlines(watch, rules)
    ids = {alert_id(shop_id, order_id, d.rule, d.due_ms): d for d in current}
    changes: list[Change] = []
    for aid, alert in open_alerts.items():
        if aid not in ids:
            changes.append(Change(aid, alert, _why(watch, alert, current, rules)))
    next_due = None
    for aid, deadline in ids.items():
        if aid in open_alerts:
            continue
        if now_ms is not None and deadline.due_ms <= now_ms:
            changes.append(
                Change(aid, OpenAlert(deadline.rule, deadline.due_ms, deadline.since_ms, now_ms))
            )
        elif next_due is None or deadline.due_ms < next_due:
            next_due = deadline.due_ms
    return Reconciled(changes, next_due)


def _why(
    watch: OrderWatch, alert: OpenAlert, current: list[Deadline], rules: AlertRules
) -> ClearedBecause:
    if watch.deleted:
        return ClearedBecause.DELETED
    if any(d.rule == alert.rule for d in current):
        return ClearedBecause.DEADLINE_CHANGED
    if alert.rule not in rules.rule_ids():
        return ClearedBecause.RULE_REMOVED
    return ClearedBecause.MOVED_ON


def alert_data(
    change: Change,
    *,
    order_id: str,
    state: str | None,
    order_version: int | None,
    now_ms: int,
) -> dict[str, Any]:
    """The ``data`` of the alert event (``AlertRaisedOut`` / ``AlertClearedOut``)."""
    alert = change.alert
    data: dict[str, Any] = {
        "alert_id": change.alert_id,
        "rule": alert.rule,
        "order_id": order_id,
        "state": state,
        "since": ms_to_time(alert.since_ms),
        "deadline": ms_to_time(alert.due_ms),
        "raised_at": ms_to_time(alert.raised_at_ms),
        "order_version": order_version,
    }
    if change.because is not None:
        data["cleared_at"] = ms_to_time(now_ms)
        data["cleared_because"] = change.because.value
    return data


def alert_row(
    change: Change,
    *,
    shop_id: str,
    order_id: str,
    state: str | None,
    order_version: int | None,
    now_ms: int,
) -> AlertRow:
    """The ``order_alerts`` row of the alert event."""
    alert = change.alert
    cleared = change.because is not None
    return AlertRow(
        shop_id=shop_id,
        alert_id=change.alert_id,
        order_id=order_id,
        rule=alert.rule,
        state=state,
        order_version=order_version,
        since_ms=alert.since_ms,
        due_ms=alert.due_ms,
        raised_at_ms=alert.raised_at_ms,
        cleared_at_ms=now_ms if cleared else None,
        cleared_because=change.because.value if change.because is not None else None,
        updated_ms=now_ms,
    )
