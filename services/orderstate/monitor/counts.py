"""Live counts per shop and hour, in a faust windowed table: orders created, shipped and
completed, and rejections per reason.

The table is a tumbling one-hour window (``Table.tumbling``) over event time: an order counts
in the hour its change happened at the shop, as the events say (``occurred_at``; for a
rejection the rejected event's own time). The last ``ORDERSTATE_MONITOR_COUNT_HOURS`` hours up
to the monitor's time are kept and shown, one gauge series per shop, count and hour. The table's
key is (shop, count, partition): each partition keeps its own part of a shop's count, so a key lives
in exactly one changelog partition and a rebalance moves whole keys, never half of one. The
gauges add the parts up.

faust writes a table key to the changelog partition of the *current event*; inside a
``noack_take`` batch there is none (faust hands the batch over from another task), so the
monitor names the partition itself and sends the changelog records with the batch's output
(``changelog``).
Counts are at least once: a rejection delivered twice counts twice (order events are
deduplicated on their sequence before they are counted).
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import faust

from orderstate.events.alerts import ms_to_time
from orderstate.monitor.changelogs import COUNTS_TABLE, counts_kept
from orderstate.monitor.publisher import Outgoing, changelog_record

__all__ = ["HourlyCounts"]

HOUR_S = 3600.0


class HourlyCounts:
    def __init__(self, app: faust.App, *, partitions: int, hours: int) -> None:
        """``hours``: how many hours, up to the monitor's time, are kept and shown."""
        self.hours = hours
        table = app.Table(COUNTS_TABLE, default=int, partitions=partitions)
        self.wrapper = table.tumbling(HOUR_S, expires=counts_kept(hours))
        self.table = self.wrapper.table

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    def add(self, shop_id: str, count: str, partition: int, time_ms: int) -> Any:
        """Count one; returns the table key, for ``changelog`` once the batch is counted."""
        window = self.table.window
        assert window is not None  # noqa: S101 -- a tumbling table always has its window
        key = ((shop_id, count, partition), window.current(time_ms / 1000))
        self.table.data[key] = int(self.table.data.get(key, 0)) + 1
        return key

    def changelog(self, keys: Iterable[Any]) -> list[Outgoing]:
        """The changelog records of these keys' values: one per key and batch."""
        topic = self.changelog_topic
        return [changelog_record(topic, k, self.table.data[k], k[0][2]) for k in keys]

    def totals(self, now_ms: int) -> Iterator[tuple[str, str, str, int]]:
        """(shop, count, hour, value) of the kept hours up to ``now_ms``, the partitions'
        parts added up; ``hour`` is the RFC 3339 start of the hour. Older windows are dropped
        from memory (their changelog records expire with the topic's retention)."""
        current = (now_ms // 1000) // int(HOUR_S) * HOUR_S
        oldest = current - (self.hours - 1) * HOUR_S
        sums: dict[tuple[str, str, float], int] = defaultdict(int)
        stale = []
        for key, value in list(self.table.data.items()):
            (shop_id, count, _partition), (start, _end) = key
            if start < oldest:
                stale.append(key)
            elif start <= current:
                sums[shop_id, count, start] += int(value)
        for key in stale:
            self.table.data.pop(key, None)
        for (shop_id, count, start), value in sorted(sums.items()):
            yield shop_id, count, ms_to_time(int(start * 1000)), value

    def forget_partitions(self, keep: set[int]) -> None:
        """Drop the rows of partitions this process no longer owns."""
        for key in [k for k in self.table.data if k[0][2] not in keep]:
            self.table.data.pop(key, None)
