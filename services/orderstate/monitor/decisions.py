"""One decision pass of the monitor: a batch of records, a tick of the clock, or the start after
a recovery. It collects new table rows and alert events; the monitor makes them durable
(``Monitor._flush``) and only then keeps the rows.

Orders are judged event by event. When an event moves a partition's time forward, the orders
whose next deadline that time has passed are judged first (the deadline passed before the
event happened), then the event is applied and its own order judged. So what a replay decides
depends only on the order of the events in each partition, never on how they were cut into
batches: a replay raises and clears the alerts the first run did, with the same ids
(docs/monitor.md, "Time").
"""

from dataclasses import dataclass, field
from typing import Any

import structlog

from orderstate.domain import PolicyBook
from orderstate.events.alerts import alert_event_data
from orderstate.monitor.alerting import Change, alert_data, alert_row, reconcile
from orderstate.monitor.publisher import Outgoing, alert_record
from orderstate.monitor.store import AlertRow
from orderstate.monitor.timekeeping import DueIndex, PartitionTime
from orderstate.monitor.watches import Row, apply_changes, open_alerts, watch_of

__all__ = ["Pass", "alert_output"]

log = structlog.get_logger("orderstate.monitor")


def alert_output(
    change: Change,
    *,
    shop_id: str,
    order_id: str,
    row: Row | None,
    now_ms: int,
    topic: str,
) -> tuple[Outgoing, AlertRow]:
    """The alert event and the ``order_alerts`` row of one change; ``row`` is the order's
    table row (None for parked_too_long: the order does not exist yet)."""
    state = row["w"][0] if row is not None else None
    version = row["v"] if row is not None else None
    data = alert_data(change, order_id=order_id, state=state, order_version=version, now_ms=now_ms)
    event = alert_event_data(change.kind, shop_id=shop_id, data=data, time_ms=now_ms)
    log.info(
        "alert_raised" if change.because is None else "alert_cleared",
        shop_id=shop_id,
        order_id=order_id,
        alert_id=change.alert_id,
        rule=change.alert.rule,
    )
    stored = alert_row(
        change,
        shop_id=shop_id,
        order_id=order_id,
        state=state,
        order_version=version,
        now_ms=now_ms,
    )
    return alert_record(topic, event), stored


@dataclass
class Pass:
    table: Any  # the monitor-orders table's store: rows as of the last durable pass
    due: DueIndex
    time: PartitionTime
    policies: PolicyBook
    alerts_topic: str
    rows: dict[str, Row] = field(default_factory=dict)
    alerts: list[Outgoing] = field(default_factory=list)
    stored: list[AlertRow] = field(default_factory=list)

    def row(self, key: str) -> Row | None:
        found: Row | None = self.rows.get(key)
        return found if found is not None else self.table.get(key)

    def put(self, key: str, row: Row) -> None:
        self.rows[key] = row

    def judge(self, key: str, *, reschedule: bool = False) -> None:
        """Reconcile one order's alerts at its partition's time now. ``reschedule``: its next
        deadline is not in the index (it was popped, or the index is being rebuilt)."""
        row = self.row(key)
        if row is None:
            return
        shop_id, _, order_id = key.partition(":")
        now = self.time.now(row["p"])
        result = reconcile(
            shop_id=shop_id,
            order_id=order_id,
            watch=watch_of(row),
            open_alerts=open_alerts(row),
            rules=self.policies.for_shop(shop_id).alerts,
            now_ms=now,
        )
        new_row = apply_changes(row, result.changes, result.next_due_ms)
        for change in result.changes:
            event, stored = alert_output(
                change,
                shop_id=shop_id,
                order_id=order_id,
                row=row,
                now_ms=now if now is not None else self.time.clock(),
                topic=self.alerts_topic,
            )
            self.alerts.append(event)
            self.stored.append(stored)
        if new_row != row:
            self.rows[key] = new_row
        due = new_row["n"]
        if due is not None and (reschedule or due != row["n"]):
            self.due.schedule(new_row["p"], due, key)

    def judge_due(self, partition: int) -> None:
        """Judge the orders of ``partition`` whose next deadline its time has passed."""
        now = self.time.now(partition)
        if now is None:
            return
        for due_ms, key in self.due.pop_due(partition, now):
            row = self.row(key)
            # Only the order's current next deadline counts; older index entries are stale.
            if row is not None and row["n"] == due_ms:
                self.judge(key, reschedule=True)

    def changed_rows(self) -> dict[str, Row]:
        return {k: r for k, r in self.rows.items() if r != self.table.get(k)}
