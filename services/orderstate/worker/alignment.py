"""Reading the two inbound topics side by side, in event-time order.

Kafka orders records within a partition, never across topics. An order's
events live in partition p of shop.orders.v1 and its shipments in partition p
of shop.shipments.v1 (same key, same partition count). Read flat out, the
smaller shipments topic runs ahead: on a backlog a third of the shipment events
arrived before their order and were parked, and states arrived "late" that
were not late at the shop, so a replay decided differently from the live run.

So the worker merges the twins by record timestamp: a fetched record goes
into a batch only when its twin partition has been read up to that time (less
a tolerance) or has nothing more to read; later records wait here, and their
partition is paused until its twin catches up. Each partition keeps its own
order. With the range assignor both twins always belong to the same worker.
"""

import heapq
import math
from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition

__all__ = ["TopicAligner", "merge_by_time"]

_TOLERANCE_MS = 200


class TopicAligner:
    def __init__(self, consumer: Any, first: str, second: str) -> None:
        self._consumer = consumer
        self._twin_topic = {first: second, second: first}
        self._last_ts: dict[TopicPartition, int] = {}
        self._held: dict[TopicPartition, list[Any]] = {}

    async def admit(
        self, fetched: dict[TopicPartition, list[Any]]
    ) -> dict[TopicPartition, list[Any]]:
        """The records that may be applied now; the rest wait for their twin."""
        for tp, records in fetched.items():
            if records:
                self._held.setdefault(tp, []).extend(records)
                self._last_ts[tp] = records[-1].timestamp
        admitted: dict[TopicPartition, list[Any]] = {}
        for tp, queue in self._held.items():
            cutoff = await self._cutoff(tp)
            ready = 0
            while ready < len(queue) and queue[ready].timestamp <= cutoff:
                ready += 1
            if ready:
                admitted[tp] = queue[:ready]
                self._held[tp] = queue[ready:]
        self._pause_the_waiting()
        return admitted

    def release(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Forget these partitions (revoked, or about to be re-read after an assignment);
        return where each one's waiting records started, to read them again from there."""
        restart = {}
        for tp in partitions:
            waiting = self._held.pop(tp, [])
            if waiting:
                restart[tp] = waiting[0].offset
            self._last_ts.pop(tp, None)
            if tp in self._consumer.paused():
                self._consumer.resume(tp)
        return restart

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._held.values())

    async def _cutoff(self, tp: TopicPartition) -> float:
        twin_topic = self._twin_topic.get(tp.topic)
        if twin_topic is None:
            return math.inf
        twin = TopicPartition(twin_topic, tp.partition)
        if twin not in self._consumer.assignment() or not await self._may_have_more(twin):
            return math.inf
        twin_ts = self._last_ts.get(twin)
        return -math.inf if twin_ts is None else twin_ts + _TOLERANCE_MS

    async def _may_have_more(self, tp: TopicPartition) -> bool:
        if self._held.get(tp):
            return True
        highwater = self._consumer.highwater(tp)
        if highwater is None:
            # Unknown until the first fetch answers: assume there is more, and wait for it.
            return True
        # The fetch position, which has moved past everything fetched (held records included).
        position: int = await self._consumer.position(tp)
        return bool(highwater > position)

    def _pause_the_waiting(self) -> None:
        paused = self._consumer.paused()
        for tp in self._consumer.assignment():
            if self._held.get(tp):
                if tp not in paused:
                    self._consumer.pause(tp)
            elif tp in paused:
                self._consumer.resume(tp)


def merge_by_time(per_partition: Iterable[list[Any]]) -> list[Any]:
    """One list in timestamp order that keeps each partition's records in offset order."""
    return list(heapq.merge(*per_partition, key=lambda record: record.timestamp))
