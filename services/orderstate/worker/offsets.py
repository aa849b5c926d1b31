"""Partitions start where PostgreSQL says the last applied batch ended.

Kafka's committed offsets are a courtesy for lag tooling; the offsets written in
the same transaction as the views are the truth, so a lost or wrong Kafka
commit can cause a replay (harmless: events are deduplicated), never a gap.
With each offset comes the partition's merge time, so the pair's merge
continues exactly where it stopped (worker/merge.py).
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from orderstate import metrics
from orderstate.projector.connection import while_database_down
from orderstate.projector.queries import query
from orderstate.worker.sequencer import Sequencer

__all__ = ["SeekToStoredOffsets"]

log = structlog.get_logger("orderstate.worker")


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped base
    def __init__(
        self,
        consumer: Any,
        *,
        pool: asyncpg.Pool,
        group: str,
        orders_topic: str,
        batch_lock: asyncio.Lock,
        sequencer: Sequencer,
        on_change: Callable[[], None],
    ) -> None:
        self._consumer = consumer
        self._sequencer = sequencer
        self._pool = pool
        self._group = group
        self._orders_topic = orders_topic
        self._batch_lock = batch_lock
        # Tells the worker that batches built before this point are stale.
        self._on_change = on_change

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Let the batch in flight commit before another member takes its partitions.
        async with self._batch_lock:
            log.info("partitions_revoked", partitions=_names(revoked))
        self._on_change()
        for pair in {tp.partition for tp in revoked}:
            self._sequencer.revoke(pair)
        for tp in revoked:
            if tp in self._consumer.paused():
                self._consumer.resume(tp)
            # Another member reports these now; a stale value here would double-count lag.
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        rows = await self._stored_offsets(sorted({tp.topic for tp in assigned}))
        stored = {
            (r["topic"], r["partition"]): (r["next_offset"], r["partition_time"], r["log_time"])
            for r in rows
        }
        self._on_change()
        times: dict[int, list[int]] = {}
        log_times: dict[int, list[int]] = {}
        fresh = []
        for tp in assigned:
            if tp in self._consumer.paused():
                self._consumer.resume(tp)
            offset, time_ms, log_ms = stored.get((tp.topic, tp.partition), (None, 0, 0))
            if offset is not None:
                self._consumer.seek(tp, offset)
            else:
                fresh.append(tp)
            side = 0 if tp.topic == self._orders_topic else 1
            times.setdefault(tp.partition, [0, 0])[side] = time_ms
            log_times.setdefault(tp.partition, [0, 0])[side] = log_ms
        if fresh:
            # Nothing applied from these yet: PostgreSQL is the truth, so the whole partition,
            # whatever Kafka's committed offset says.
            await self._consumer.seek_to_beginning(*fresh)
        for pair, (orders_time, shipments_time) in times.items():
            orders_log, shipments_log = log_times[pair]
            self._sequencer.assign(pair, (orders_time, shipments_time), (orders_log, shipments_log))
        log.info(
            "partitions_assigned",
            partitions=_names(assigned),
            seeked={f"{t}[{p}]": o for (t, p), (o, _, _) in sorted(stored.items())},
        )

    async def _stored_offsets(self, topics: list[str]) -> list[asyncpg.Record]:
        """Waits for a database that is away: aiokafka logs a listener's exception and goes
        on without it, so the partitions would be fetched with no merge state for their
        pairs, and the worker would stand still until the next rebalance."""
        async for attempt in while_database_down("load_offsets"):
            with attempt:
                async with self._pool.acquire() as conn:
                    rows: list[asyncpg.Record] = await conn.fetch(
                        query("load_offsets"), self._group, topics
                    )
                    return rows
        raise AssertionError("unreachable: tenacity retries until success or reraises")


def _names(partitions: list[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)
