"""Records faust read for the monitor but never handed to its agent.

faust-streaming's stream drops a record it receives while its flow control is suspended or
whose generation id is not the app's current one (the guard of faust-streaming #221, PR #223
and #234), and nothing seeks the consumer back: its position is then past records the agent
never got, and the monitor would wait for them for ever (docs/monitor.md, "faust-streaming").
It happens in the moments around a rebalance or a table recovery, for example when a
restarted monitor joins the group of a killed one.

``DeliveryWatch`` notices it: an input partition whose consumer position is ahead of the
last record the agent received (or, before the agent received any, of the group's committed
offset), while nothing at all has been delivered for a while and no batch is waiting or being
processed. The monitor then seeks the partition back to where the agent stopped receiving;
what is read twice is skipped by sequence (``watches.fold``).
"""

from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

__all__ = ["DeliveryWatch"]

P = TypeVar("P", bound=Hashable)


class DeliveryWatch(Generic[P]):
    def __init__(self, quiet_s: float) -> None:
        self.quiet_s = quiet_s
        # Per partition: the offset after the last record the agent received, and the group's
        # committed offset where it has received none (read once per assignment: it moves
        # only when records were delivered and acknowledged).
        self.delivered: dict[P, int] = {}
        self.committed: dict[P, int | None] = {}
        self.last_delivery_s = 0.0

    def got(self, partition: P, offset: int, now_s: float) -> None:
        """The agent received the record at ``offset``."""
        self.delivered[partition] = max(self.delivered.get(partition, 0), offset + 1)
        self.last_delivery_s = now_s

    def assigned(self, now_s: float) -> None:
        """A new assignment, or a seek: what was known before says nothing about it."""
        self.delivered.clear()
        self.committed.clear()
        self.last_delivery_s = now_s

    def quiet(self, now_s: float) -> bool:
        """Nothing delivered for ``quiet_s``: time to compare positions."""
        return now_s - self.last_delivery_s >= self.quiet_s

    def without_start(self, positions: Mapping[P, int | None]) -> list[P]:
        """Partitions with a position but nothing to compare it with yet."""
        return [
            tp
            for tp, position in positions.items()
            if position is not None and tp not in self.delivered and tp not in self.committed
        ]

    def skipped(self, positions: Mapping[P, int | None]) -> dict[P, int]:
        """The partitions read past records the agent never got, and the offset to read
        again from."""
        behind: dict[P, int] = {}
        for partition, position in positions.items():
            start = self.delivered.get(partition)
            if start is None:
                start = self.committed.get(partition)
            if position is not None and start is not None and position > start:
                behind[partition] = start
        return behind
