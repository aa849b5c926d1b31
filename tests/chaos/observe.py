"""What the run looked like from outside: every partition's stored offset and end offset,
sampled a few times a second, to measure lag, throughput, and how long partitions stood still
after each fault."""

import asyncio
import contextlib
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["Observer", "Sample", "stalls"]

TOPICS = ("shop.orders.v1", "shop.shipments.v1")


@dataclass(frozen=True)
class Sample:
    at: float
    # (topic, partition) -> (stored next offset, end offset)
    partitions: dict[tuple[str, int], tuple[int, int]]

    @property
    def lag(self) -> int:
        return sum(max(end - done, 0) for done, end in self.partitions.values())

    @property
    def applied(self) -> int:
        return sum(done for done, _ in self.partitions.values())


@dataclass
class Observer:
    kafka: str
    database_url: str
    clock: Callable[[], float]
    partitions: int = 6
    samples: list[Sample] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection | None = None
        consumer: AIOKafkaConsumer | None = None
        parts = [TopicPartition(t, p) for t in TOPICS for p in range(self.partitions)]
        ends: dict[TopicPartition, int] = {}
        while not stop.is_set():
            try:
                if consumer is None:
                    consumer = AIOKafkaConsumer(
                        bootstrap_servers=self.kafka,
                        isolation_level="read_committed",
                        request_timeout_ms=5000,
                    )
                    await consumer.start()
                async with asyncio.timeout(5):
                    ends = await consumer.end_offsets(parts)
            except Exception:  # the broker is down: keep the last ends, reconnect later
                if consumer is not None:
                    with contextlib.suppress(Exception):
                        await consumer.stop()
                consumer = None
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.database_url, timeout=3)
                rows = await conn.fetch(
                    "SELECT topic, partition, next_offset FROM consumer_offsets "
                    "WHERE consumer_group = 'orderstate-projector'"
                )
            except Exception:  # PostgreSQL is restarting
                conn = None
                rows = None
            if rows is not None and ends:
                stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
                self.samples.append(
                    Sample(
                        self.clock(),
                        {
                            (tp.topic, tp.partition): (stored.get((tp.topic, tp.partition), 0), end)
                            for tp, end in ends.items()
                        },
                    )
                )
            await asyncio.sleep(0.25)
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def caught_up(self) -> bool:
        return bool(self.samples) and self.samples[-1].lag == 0

    def max_lag(self) -> int:
        return max((s.lag for s in self.samples), default=0)


def stalls(samples: list[Sample], at: float, until: float) -> list[float]:
    """For each partition that had records to apply at some moment between a fault at ``at``
    and ``until``: the longest time in that window it stood still with records waiting, from
    the fault (or from the first sample that showed records waiting) to the sample where its
    stored offset moved (or to the window's end).

    The longest, not the first: a batch a worker had sent to PostgreSQL before it was killed
    or frozen still commits, so a partition's offset moves once just after the fault and then
    stands still until the partition has a new owner. Measured to the first move only, the
    partitions of a frozen worker stood still 0.1 s in a run whose worker logs show 10 s."""
    before = [s for s in samples if s.at <= at]
    window = [s for s in samples if at < s.at <= until]
    if not before or not window:
        return []
    out = []
    for tp, (done_at_fault, end) in before[-1].partitions.items():
        done = done_at_fault
        waiting_since = at if end > done else None
        longest: float | None = None
        for sample in window:
            now_done, now_end = sample.partitions.get(tp, (done, end))
            if now_done > done:
                if waiting_since is not None:
                    longest = max(longest or 0.0, sample.at - waiting_since)
                done = now_done
                waiting_since = sample.at if now_end > now_done else None
            elif waiting_since is None and now_end > now_done:
                waiting_since = sample.at
        if waiting_since is not None:
            longest = max(longest or 0.0, window[-1].at - waiting_since)
        if longest is not None:
            out.append(longest)
    return out


def summary(values: list[float]) -> tuple[float, float]:
    if not values:
        return (0.0, 0.0)
    return (statistics.median(values), max(values))
