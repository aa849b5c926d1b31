"""The monitor's gauges: open alerts per shop and rule, and the hourly counts.

Both are set whole at each refresh (``clear`` then every label set, with no await between),
so a shop or an hour that went away leaves no stale series behind.
"""

import asyncpg

from orderstate import metrics
from orderstate.monitor.counts import HourlyCounts
from orderstate.monitor.store import open_alert_counts

__all__ = ["export_counts", "export_open_alerts"]


async def export_open_alerts(pool: asyncpg.Pool) -> None:
    """From PostgreSQL, as GET /v2/alerts shows them: every monitor reports every shop."""
    counts = await open_alert_counts(pool)
    metrics.MONITOR_OPEN_ALERTS.clear()
    for (shop_id, rule), n in counts.items():
        metrics.MONITOR_OPEN_ALERTS.labels(shop_id, rule).set(n)


def export_counts(counts: HourlyCounts, now_ms: int) -> None:
    """The kept hours up to ``now_ms``, of the partitions this monitor owns."""
    orders, rejections = metrics.MONITOR_ORDERS_PER_HOUR, metrics.MONITOR_REJECTIONS_PER_HOUR
    totals = list(counts.totals(now_ms))
    orders.clear()
    rejections.clear()
    for shop_id, count, hour, value in totals:
        if count.startswith("rejected:"):
            rejections.labels(shop_id, count.removeprefix("rejected:"), hour).set(value)
        else:
            orders.labels(shop_id, count, hour).set(value)
