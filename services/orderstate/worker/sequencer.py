"""Fetched records in, one deterministic stream of inputs per partition pair out.

Owns a ``PairMerge`` per partition number the worker is assigned (the range assignor gives
partition p of both inbound topics to the same member), reads each record, finds the records
that sit in a partition their key does not map to, and says when a silent partition needs a
merge marker. Knows the consumer only through a few calls; it writes nothing itself.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiokafka import TopicPartition

from orderstate import metrics
from orderstate.events.decode import DecodeLimits
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import expected_partition
from orderstate.projector.inputs import Input, Position
from orderstate.worker.merge import ORDERS, SHIPMENTS, PairMerge, Side
from orderstate.worker.records import Read, read_record

__all__ = ["Forward", "MarkerRequest", "Sequencer"]


@dataclass(frozen=True, slots=True)
class Forward:
    """A record to copy to the partition its key maps to before its batch commits."""

    record: Any
    partition: int


@dataclass(frozen=True, slots=True)
class MarkerRequest:
    tp: TopicPartition
    time_ms: int


class _Fetched(NamedTuple):
    record: Any
    read: Read
    misplaced: bool


@dataclass(slots=True)
class _Clocks:
    """The log clocks of a pair: each partition's running maximum of Kafka timestamps, and
    the pair's (the maximum over every record merged so far)."""

    orders: int
    shipments: int

    @property
    def pair(self) -> int:
        return max(self.orders, self.shipments)


class Sequencer:
    def __init__(
        self,
        consumer: Any,
        *,
        orders_topic: str,
        shipments_topic: str,
        limits: DecodeLimits,
        marker_wait_s: float,
        hold_limit: int,
    ) -> None:
        self._consumer = consumer
        self._topics = (orders_topic, shipments_topic)
        self._roles = {orders_topic: TopicRole.ORDERS_IN, shipments_topic: TopicRole.SHIPMENTS_IN}
        self._limits = limits
        self._marker_wait_s = marker_wait_s
        self._hold_limit = hold_limit
        self._pairs: dict[int, PairMerge[_Fetched]] = {}
        self._clocks: dict[int, _Clocks] = {}
        self._turn = 0
        # Partition counts of the two topics, for finding misplaced records.
        self.partitions: dict[str, int] = {}
        # When a side of a pair began to block real records on the other side, and which
        # marker is on its way to it (so it is written once, not on every fetch).
        self._blocked_since: dict[TopicPartition, float] = {}
        self._marker_sent: dict[TopicPartition, tuple[int, float]] = {}
        self.forwards: list[Forward] = []

    # -- assignment ------------------------------------------------------------------------

    def assign(self, pair: int, times: tuple[int, int], log_times: tuple[int, int]) -> None:
        """Start (or restart) a pair from the merge and log times stored with its offsets."""
        self._pairs[pair] = PairMerge(*times)
        self._clocks[pair] = _Clocks(*log_times)
        for tp in self._sides(pair):
            self._blocked_since.pop(tp, None)
            self._marker_sent.pop(tp, None)

    def revoke(self, pair: int) -> None:
        self._pairs.pop(pair, None)
        self._clocks.pop(pair, None)
        for tp in self._sides(pair):
            self._blocked_since.pop(tp, None)
            self._marker_sent.pop(tp, None)

    def _sides(self, pair: int) -> tuple[TopicPartition, TopicPartition]:
        return TopicPartition(self._topics[0], pair), TopicPartition(self._topics[1], pair)

    # -- records in, inputs out ------------------------------------------------------------

    def push(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        for tp, records in fetched.items():
            merge = self._pairs.get(tp.partition)
            if merge is None or tp.topic not in self._roles:
                # Fetched before a rebalance took the pair away; its new owner reads it again.
                continue
            side: Side = ORDERS if tp.topic == self._topics[0] else SHIPMENTS
            role = self._roles[tp.topic]
            count = self.partitions.get(tp.topic)
            for record in records:
                read = read_record(record, role, self._limits)
                time_ms = merge.advance(side, read.key_ms)
                misplaced = (
                    read.decoded is not None
                    and count is not None
                    and record.partition != (target := expected_partition(record.key, count))
                )
                if misplaced:
                    self.forwards.append(Forward(record, target))
                    metrics.RECORDS_MISPLACED.labels(tp.topic).inc()
                # Markers only settle order; every other record (a forwarded one too) must move on.
                merge.push(side, time_ms, _Fetched(record, read, misplaced), real=not read.marker)
                if read.marker:
                    self._marker_sent.pop(tp, None)

    def release(self, limit: int) -> list[Input]:
        """At most ``limit`` inputs whose place is settled, each pair's in merged order. The
        pair that goes first turns with every call, so a full batch does not always come
        from the same pairs."""
        out: list[Input] = []
        pairs = sorted(self._pairs)
        if pairs:
            self._turn = (self._turn + 1) % len(pairs)
        for pair in pairs[self._turn :] + pairs[: self._turn]:
            if len(out) >= limit:
                break
            clocks = self._clocks[pair]
            for time_ms, fetched in self._pairs[pair].release(limit - len(out)):
                out.append(self._input(clocks, time_ms, fetched))
        self._pause_the_full()
        return out

    def _input(self, clocks: _Clocks, time_ms: int, fetched: _Fetched) -> Input:
        record = fetched.record
        # A merge marker's timestamp is when the worker happened to write it: it must not move
        # the clock. Every other record's does, a clock tick's too (that is what it is for).
        stamp = 0 if fetched.read.marker else record.timestamp
        if record.topic == self._topics[0]:
            clocks.orders = max(clocks.orders, stamp)
            log_ms = clocks.orders
        else:
            clocks.shipments = max(clocks.shipments, stamp)
            log_ms = clocks.shipments
        position = Position(
            record.topic, record.partition, record.offset, time_ms, log_ms, clocks.pair
        )
        role = self._roles[record.topic]
        return fetched.read.input(record, role, position, misplaced=fetched.misplaced)

    def take_forwards(self) -> list[Forward]:
        forwards, self.forwards = self.forwards, []
        return forwards

    @property
    def waiting(self) -> int:
        """Records (not markers) fetched but not yet released to a batch."""
        return sum(m.waiting_real(ORDERS) + m.waiting_real(SHIPMENTS) for m in self._pairs.values())

    def waiting_by_partition(self) -> dict[TopicPartition, int]:
        """Everything fetched and not yet released per partition, markers included."""
        return {
            tp: merge.waiting(side)
            for pair, merge in self._pairs.items()
            for side, tp in enumerate(self._sides(pair))
        }

    def clock(self, pair: int) -> int:
        """The pair's log clock: the latest Kafka timestamp among the records merged so far."""
        clocks = self._clocks.get(pair)
        return 0 if clocks is None else clocks.pair

    def log_times(self) -> dict[TopicPartition, int]:
        return {
            tp: (clocks.orders, clocks.shipments)[side]
            for pair, clocks in self._clocks.items()
            for side, tp in enumerate(self._sides(pair))
        }

    def times(self) -> dict[TopicPartition, int]:
        return {
            tp: merge.time(side)
            for pair, merge in self._pairs.items()
            for side, tp in enumerate(self._sides(pair))
        }

    # -- silent partitions -----------------------------------------------------------------

    def markers_due(self, caught_up: Iterable[TopicPartition]) -> list[MarkerRequest]:
        """Markers to write: for a partition that has nothing more to read while real records
        of its twin wait for it, once it stayed that way for the marker wait."""
        now = time.monotonic()
        silent = set(caught_up)
        due = []
        for pair, merge in self._pairs.items():
            for side, tp in enumerate(self._sides(pair)):
                needed = merge.marker_needed(side)
                if needed is None or tp not in silent:
                    self._blocked_since.pop(tp, None)
                    continue
                since = self._blocked_since.setdefault(tp, now)
                sent = self._marker_sent.get(tp)
                # A marker on its way covers the records that were waiting when it was written;
                # a lost one (a failed send) is written again after a while.
                if sent is not None and sent[0] >= needed and now - sent[1] < 10.0:
                    continue
                if now - since >= self._marker_wait_s:
                    self._marker_sent[tp] = (needed, now)
                    due.append(MarkerRequest(tp, needed))
        return due

    def settle_silent(self, caught_up: Iterable[TopicPartition]) -> list[Input]:
        """For a run over a log that is not written any more (a replay): treat a silent
        partition as if a marker had been written to it, without writing one."""
        silent = set(caught_up)
        out: list[Input] = []
        for pair, merge in self._pairs.items():
            for side, tp in enumerate(self._sides(pair)):
                needed = merge.marker_needed(side)
                if needed is not None and tp in silent:
                    merge.advance(side, needed)
            clocks = self._clocks[pair]
            out.extend(self._input(clocks, t, f) for t, f in merge.release())
        return out

    def _pause_the_full(self) -> None:
        """Stop fetching a partition that holds many records waiting for its twin; the twin
        keeps being fetched, and the partition resumes once its records move on."""
        paused = self._consumer.paused()
        for pair, merge in self._pairs.items():
            for side, tp in enumerate(self._sides(pair)):
                full = merge.waiting(side) >= self._hold_limit
                if full and tp not in paused:
                    self._consumer.pause(tp)
                elif not full and tp in paused:
                    self._consumer.resume(tp)
