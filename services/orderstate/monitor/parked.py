"""parked_too_long: shipments that wait for an order orderstate does not know.

The worker keeps them in PostgreSQL (``parked_events``) and publishes nothing about them
until their order arrives, so the monitor reads the table instead of the order events: a
periodic query on the group's leader (README, "The order monitor", says why the worker was
not changed to publish them). The alert is per order: due when its first shipment has waited
longer than the shop's limit, cleared when no shipment waits for it any more (the order
arrived and they were applied, or they expired as ``unknown_order``). The time is the wall
clock, like ``parked_at``.
"""

from collections.abc import Iterable

from orderstate.domain import PolicyBook, Rule
from orderstate.events.alerts import ClearedBecause, alert_id
from orderstate.monitor.alerting import Change, OpenAlert
from orderstate.monitor.store import OpenParkedAlert, ParkedOrder

__all__ = ["parked_changes"]


def parked_changes(
    parked: Iterable[ParkedOrder],
    opened: Iterable[OpenParkedAlert],
    policies: PolicyBook,
    now_ms: int,
) -> list[tuple[str, str, Change]]:
    """(shop, order, change) for every parked_too_long alert to raise or clear."""
    waiting: set[tuple[str, str]] = set()
    due: dict[tuple[str, str], tuple[str, Change]] = {}
    for order in parked:
        waiting.add((order.shop_id, order.order_id))
        limit = policies.for_shop(order.shop_id).alerts.parked_too_long
        if limit is None:
            continue
        deadline = order.since_ms + int(limit.total_seconds() * 1000)
        if deadline <= now_ms:
            aid = alert_id(order.shop_id, order.order_id, Rule.PARKED_TOO_LONG, deadline)
            raised = OpenAlert(Rule.PARKED_TOO_LONG, deadline, order.since_ms, now_ms)
            due[order.shop_id, aid] = (order.order_id, Change(aid, raised))
    changes: list[tuple[str, str, Change]] = []
    open_ids = set()
    for alert in opened:
        open_ids.add((alert.shop_id, alert.alert_id))
        if (alert.shop_id, alert.alert_id) in due:
            continue
        if (alert.shop_id, alert.order_id) not in waiting:
            because = ClearedBecause.UNPARKED
        elif policies.for_shop(alert.shop_id).alerts.parked_too_long is None:
            because = ClearedBecause.RULE_REMOVED
        else:
            because = ClearedBecause.DEADLINE_CHANGED
        kept = OpenAlert(Rule.PARKED_TOO_LONG, alert.due_ms, alert.since_ms, alert.raised_at_ms)
        changes.append((alert.shop_id, alert.order_id, Change(alert.alert_id, kept, because)))
    for (shop_id, aid), (order_id, change) in due.items():
        if (shop_id, aid) not in open_ids:
            changes.append((shop_id, order_id, change))
    return changes
