"""The monitor's time, per partition of the order events, and the deadlines waiting for it.

Deadlines are judged by event time, so that a replay, a catch-up after an outage and a test
all see the same alerts as the live run did:

- a partition's *stream time* is the latest event time (``occurred_at``) read from it;
- while a partition has records the monitor has not processed, its time is its stream time:
  an order's later events may still be unread, so the wall clock would raise alerts for
  orders that had already moved on;
- once it has processed everything the partition holds, its time is the later of stream time
  and the clock: deadlines pass while nothing happens, as they should.

Within a batch a partition's time is its stream time (``reading``): what a batch decides then
depends only on the events, and the clock comes in only at the ticks between batches.

``clock`` is the wall clock in production and a settable one in tests (milliseconds).
"""

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable

__all__ = ["DueIndex", "PartitionTime"]


class PartitionTime:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.stream_ms: dict[int, int] = {}
        self.next_offset: dict[int, int] = {}
        self.caught_up: dict[int, bool] = {}
        self._idle_position: dict[int, int | None] = {}

    def saw(self, partition: int, offset: int, event_ms: int | None) -> None:
        self.next_offset[partition] = offset + 1
        if event_ms is not None and event_ms > self.stream_ms.get(partition, 0):
            self.stream_ms[partition] = event_ms

    def reading(self, partition: int) -> None:
        """A batch of the partition is being processed: event time only until the next tick."""
        self.caught_up[partition] = False

    def update(self, partition: int, *, highwater: int | None, position: int | None) -> None:
        """Caught up: every record up to the partition's end has been processed.

        Before the monitor processed a record of the partition, only the consumer's position
        says where it is, and records it fetched may still wait in faust's buffers: the
        position must then have reached the end at two updates in a row (a tick apart), time
        enough for buffered records to be processed and counted instead.
        """
        if partition in self.next_offset:
            processed: int | None = self.next_offset[partition]
        else:
            previous = self._idle_position.get(partition)
            self._idle_position[partition] = position
            processed = position if previous == position else None
        self.caught_up[partition] = (
            highwater is not None and processed is not None and processed >= highwater
        )

    def now(self, partition: int) -> int | None:
        """The partition's time (ms), or None while it has none (nothing read, not caught up)."""
        stream = self.stream_ms.get(partition)
        if self.caught_up.get(partition, False):
            clock = self.clock()
            return clock if stream is None else max(stream, clock)
        return stream

    def latest(self) -> int:
        """The furthest any partition has come: the 'now' of the hourly counts."""
        times = [t for t in (self.now(p) for p in self.caught_up | self.stream_ms) if t]
        return max(times, default=self.clock())

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.stream_ms.pop(partition, None)
            self.next_offset.pop(partition, None)
            self.caught_up.pop(partition, None)
            self._idle_position.pop(partition, None)


class DueIndex:
    """The next deadline of every watched order, per partition, earliest first.

    Entries are never removed in place: an order whose next deadline changed is pushed again,
    and a popped entry is only acted on if it still is the order's next deadline (the caller
    checks), so the heap stays a plain heap.
    """

    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[int, str]]] = defaultdict(list)

    def schedule(self, partition: int, due_ms: int, key: str) -> None:
        heapq.heappush(self._heaps[partition], (due_ms, key))

    def pop_due(self, partition: int, now_ms: int) -> list[tuple[int, str]]:
        heap = self._heaps.get(partition)
        due: list[tuple[int, str]] = []
        while heap and heap[0][0] <= now_ms:
            due.append(heapq.heappop(heap))
        return due

    def partitions(self) -> list[int]:
        return list(self._heaps)

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._heaps.pop(partition, None)

    def __len__(self) -> int:
        return sum(len(h) for h in self._heaps.values())
