"""The deterministic merge of one partition pair: orders partition p and shipments partition p.

An order's events live in partition p of both inbound topics. Kafka orders records within a
partition, never across the two, so the worker defines the order itself, and defines it from
what the partitions hold, never from when records happened to be fetched:

- Every record has a merge key: its event time (CloudEvents ``time``), in milliseconds, but
  never later than its Kafka timestamp, which the broker bounds (so one record stamped far in
  the future cannot hold a partition back for long).
- A partition's *time* after a record is the running maximum of the keys so far: it never
  goes down, whatever the producers' clocks do.
- The pair is merged by partition time, each partition in offset order, the orders partition
  first on a tie.

That order is a pure function of the two logs. A record can be released once nothing the
twin partition may still receive could sort before it: the twin has a record that sorts
after it, or the twin's time already does (its time never goes down). When the twin is
silent, the worker appends a *marker* to it (a record that carries only a time), so the
decision "these records go before whatever the twin receives next" is itself in the log,
and every replay makes it the same way. A marker changes nothing but its partition's time
from its place on: it is let through as soon as it is at the head of its partition, and it
is written only for real records that wait, never for a marker.

This module is pure: no Kafka, no clock. ``Sequencer`` (``worker/sequencer.py``) feeds it.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["ORDERS", "SHIPMENTS", "PairMerge", "Side"]

Item = TypeVar("Item")
Side = int
ORDERS: Side = 0
SHIPMENTS: Side = 1


@dataclass(slots=True)
class _Queue(Generic[Item]):
    # The partition's time after the last record pushed (fetched), and the records pushed but
    # not yet released, each with its partition time, in offset order.
    time: int
    entries: deque[tuple[int, Item, bool]] = field(default_factory=deque)
    # How many of the waiting entries are real records (not markers).
    real: int = 0


class PairMerge(Generic[Item]):
    def __init__(self, orders_time: int = 0, shipments_time: int = 0) -> None:
        self._queues = (_Queue[Item](orders_time), _Queue[Item](shipments_time))

    def advance(self, side: Side, key: int) -> int:
        """The partition time after a record with this merge key; push that record next."""
        queue = self._queues[side]
        queue.time = max(queue.time, key)
        return queue.time

    def push(self, side: Side, time: int, item: Item, *, real: bool = True) -> None:
        """Append the next record of a partition, with the time ``advance`` returned for it."""
        queue = self._queues[side]
        queue.entries.append((time, item, real))
        if real:
            queue.real += 1

    def release(self, limit: int | None = None) -> list[tuple[int, Item]]:
        """The records whose place in the merged order is settled, in that order: all of
        them, or the first ``limit``."""
        out: list[tuple[int, Item]] = []
        orders, shipments = self._queues
        while limit is None or len(out) < limit:
            # A marker at the head of either queue goes first. Two plain tests, not a generator
            # over the queues: this runs for every record the worker reads.
            if orders.entries and not orders.entries[0][2]:
                marker: _Queue[Item] | None = orders
            elif shipments.entries and not shipments.entries[0][2]:
                marker = shipments
            else:
                marker = None
            if marker is not None:
                time, item, _ = marker.entries.popleft()
                out.append((time, item))
                continue
            if orders.entries and shipments.entries:
                side = ORDERS if orders.entries[0][0] <= shipments.entries[0][0] else SHIPMENTS
            elif orders.entries:
                # The shipments partition's next record will have a time >= its current time,
                # and a tie goes to the orders partition.
                if orders.entries[0][0] > shipments.time:
                    break
                side = ORDERS
            elif shipments.entries:
                if shipments.entries[0][0] >= orders.time:
                    break
                side = SHIPMENTS
            else:
                break
            queue = self._queues[side]
            time, item, real = queue.entries.popleft()
            if real:
                queue.real -= 1
            out.append((time, item))
        return out

    def marker_needed(self, side: Side) -> int | None:
        """The time of a marker to append to ``side`` so that the real records waiting on the
        other side are released; None when nothing real waits for ``side``.

        Call after ``release``: records still waiting then wait for this side only when it has
        no record waiting itself."""
        own = self._queues[side]
        other = self._queues[1 - side]
        if own.entries or not other.real:
            return None
        last = other.entries[-1][0]
        # A shipments record needs an orders time strictly above its own (ties go to orders).
        return last + 1 if side == ORDERS else last

    def waiting(self, side: Side) -> int:
        return len(self._queues[side].entries)

    def waiting_real(self, side: Side) -> int:
        """Waiting records that are not markers: a marker may wait indefinitely for its twin's
        next record, and that holds nothing back."""
        return self._queues[side].real

    def time(self, side: Side) -> int:
        return self._queues[side].time
