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


def stalls(samples: list[Sample], at: float) -> list[float]:
    """For each partition that had records to apply when a fault struck at ``at``, or got
    some after it: the seconds from the fault (or from when the first of them was seen, if
    later) until its stored offset next moved (or until the end of the samples).

    Partitions caught up at the moment of the fault count too: under a load the pipeline
    keeps up with, most are, and a partition whose worker froze stands still on the records
    that arrive next."""
    before = [s for s in samples if s.at <= at]
    if not before:
        return []
    base = before[-1].partitions
    later = [s for s in samples if s.at > at]
    out = []
    for tp, (done, end) in base.items():
        if end > done:
            waiting_since = at
        else:
            arrived = next((s.at for s in later if s.partitions.get(tp, (0, 0))[1] > done), None)
            if arrived is None:
                continue
            waiting_since = arrived
        moved = next((s.at for s in later if s.partitions.get(tp, (done, 0))[0] > done), None)
        out.append((moved if moved is not None else later[-1].at) - waiting_since)
    return out


def summary(values: list[float]) -> tuple[float, float]:
    if not values:
        return (0.0, 0.0)
    return (statistics.median(values), max(values))
