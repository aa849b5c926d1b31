"""The rows of the monitor's ``monitor-orders`` table: one per order, as plain JSON data.

A row holds what the monitor needs to judge the order's deadlines and to publish its alerts
again after a restart, and nothing of the order's content:

    {"s": 17,                 # the last sequence applied: redeliveries at or below it are skipped
     "v": 9,                  # the order's version then
     "p": 3,                  # the partition the order lives on
     "t": 1772443800000,      # event time of the last event applied (ms)
     "w": ["paid", since_ms, shipped_ms, boarding, promised_ms, deleted],  # the OrderWatch
     "a": {alert_id: [rule, due_ms, since_ms, raised_at_ms]},              # open alerts
     "n": 1772616600000}      # the next deadline not yet due, or null

Rows are compact lists rather than named fields because every order's row goes through the
changelog at every change.
"""

from typing import Any

from orderstate.domain import OrderState, OrderWatch, watch_after
from orderstate.monitor.alerting import Change, OpenAlert
from orderstate.monitor.records import OrderEvent

__all__ = ["Fold", "apply_changes", "fold", "open_alerts", "watch_of"]

Row = dict[str, Any]


def watch_of(row: Row) -> OrderWatch:
    state, since, shipped, boarding, promised, deleted = row["w"]
    return OrderWatch(OrderState(state), since, shipped, boarding, promised, deleted)


def _encode(watch: OrderWatch) -> list[Any]:
    return [
        watch.state.value,
        watch.state_since_ms,
        watch.shipped_at_ms,
        watch.boarding_complete,
        watch.promised_ms,
        watch.deleted,
    ]


def open_alerts(row: Row) -> dict[str, OpenAlert]:
    return {aid: OpenAlert(*values) for aid, values in row["a"].items()}


class Fold:
    """What applying one event to a row came to."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"


def fold(row: Row | None, event: OrderEvent, partition: int) -> tuple[Row | None, str, bool]:
    """The row after ``event`` (a new dict; ``row`` is not changed), the outcome, and whether
    the event's sequence skipped numbers. A sequence at or below the row's is a duplicate
    (delivery is at least once; faust-streaming #502 and #318 redeliver after rebalances)."""
    if row is not None and event.sequence <= row["s"]:
        return None, Fold.DUPLICATE, False
    gap = row is not None and event.sequence > row["s"] + 1
    watch = watch_after(
        watch_of(row) if row is not None else None,
        state=event.state,
        boarding_complete=event.boarding_complete,
        promised_ms=event.promised_ms,
        deleted=event.deleted,
        occurred_ms=event.occurred_ms,
    )
    return (
        {
            "s": event.sequence,
            "v": event.version,
            "p": partition,
            "t": max(event.occurred_ms, row["t"]) if row is not None else event.occurred_ms,
            "w": _encode(watch),
            "a": row["a"] if row is not None else {},
            "n": row["n"] if row is not None else None,
        },
        Fold.APPLIED,
        gap,
    )


def apply_changes(row: Row, changes: list[Change], next_due_ms: int | None) -> Row:
    """The row with the alert changes recorded and its next deadline (a new dict)."""
    opened = dict(row["a"])
    for change in changes:
        if change.because is None:
            alert = change.alert
            opened[change.alert_id] = [alert.rule, alert.due_ms, alert.since_ms, alert.raised_at_ms]
        else:
            opened.pop(change.alert_id, None)
    return {**row, "a": opened, "n": next_due_ms}
