"""The figures of the shop dashboard.

Orders per state and open alerts are counted by the REST API's own read code
(``api.reads.list_statements``, ``api.alert_reads.list_alerts``), so each number is the
``X-Total-Count`` of the matching API list. Consumer lag and outbox backlog are the figures
the worker and the relay already compute for their gauges: the lag is read from the
``orderstate_consumer_lag`` gauge of this process (set only where the worker runs in the same
process, as in ``orderstate run``), the backlog with the relay's own statement.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orderstate import metrics
from orderstate.api import alert_reads, reads
from orderstate.api.alert_reads import AlertRow
from orderstate.domain import OrderState
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["HOURS", "Dashboard", "HourCount", "consumer_lag", "dashboard"]

# The changes chart covers this many hours, the current one included.
HOURS = 24
# Open alerts listed by name on the dashboard; the rest are counted.
_ALERTS_LISTED = 10


@dataclass(frozen=True, slots=True)
class HourCount:
    hour: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    orders_per_state: dict[OrderState, int]
    changes_per_hour: list[HourCount]
    rejections_per_reason: dict[str, int]
    open_alerts: int
    open_alerts_per_rule: dict[str, int]
    latest_open_alerts: list[AlertRow]
    outbox_backlog: int
    outbox_dead: int
    # None: no worker runs in this process, so there is no measurement here.
    consumer_lag: int | None

    @property
    def orders(self) -> int:
        return sum(self.orders_per_state.values())


async def dashboard(conn: Conn, shop_id: str, now: datetime) -> Dashboard:
    # One snapshot, so the figures agree with each other.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        per_state = {state: await _orders_in(conn, shop_id, state) for state in OrderState}
        hour_now = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        since = hour_now - timedelta(hours=HOURS - 1)
        hourly = {
            r["hour"]: int(r["n"])
            for r in await conn.fetch(query("console_changes_per_hour"), shop_id, since)
        }
        rejections = {
            r["reason"]: int(r["n"])
            for r in await conn.fetch(query("console_rejections_per_reason"), shop_id)
        }
        latest, open_total = await alert_reads.list_alerts(
            conn,
            shop_id,
            alert_reads.AlertFilters(open=True),
            sort=alert_reads.AlertSort.RAISED_AT,
            descending=True,
            limit=_ALERTS_LISTED,
            offset=0,
        )
        per_rule = {
            r["rule"]: int(r["n"])
            for r in await conn.fetch(query("console_open_alerts_per_rule"), shop_id)
        }
        backlog = await conn.fetchrow(query("relay_backlog"))
    if backlog is None:
        raise AssertionError("relay_backlog always answers one row")
    # The query's hours are UTC without a zone.
    hours = [since.replace(tzinfo=None) + timedelta(hours=h) for h in range(HOURS)]
    return Dashboard(
        orders_per_state=per_state,
        changes_per_hour=[
            HourCount(hour.replace(tzinfo=UTC), hourly.get(hour, 0)) for hour in hours
        ],
        rejections_per_reason=rejections,
        open_alerts=open_total,
        open_alerts_per_rule=per_rule,
        latest_open_alerts=latest,
        outbox_backlog=int(backlog["backlog"]),
        outbox_dead=int(backlog["dead"]),
        consumer_lag=consumer_lag(),
    )


async def _orders_in(conn: Conn, shop_id: str, state: OrderState) -> int:
    """The X-Total-Count of GET /v2/orders?filters[state]=<state>: the same statement."""
    statements = reads.list_statements(
        shop_id,
        reads.OrderFilters(states=[state]),
        sort=reads.SortField.ORDER_DATE,
        descending=False,
        limit=1,
        offset=0,
    )
    return int(await conn.fetchval(statements.count_sql, *statements.count_args))


def consumer_lag() -> int | None:
    """The sum of the worker's ``orderstate_consumer_lag`` gauge in this process, or None when
    no worker has set it here (``orderstate api`` alone): then it is on the worker's /metrics."""
    samples = [
        sample.value
        for family in metrics.CONSUMER_LAG.collect()
        for sample in family.samples
        if sample.name == "orderstate_consumer_lag"
    ]
    return int(sum(samples)) if samples else None
