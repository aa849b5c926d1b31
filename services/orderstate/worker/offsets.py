"""Partitions start where PostgreSQL says the last applied batch ended.

Kafka's committed offsets are a courtesy for lag tooling; the offsets written in
the same transaction as the views are the truth, so a lost or wrong Kafka
commit can cause a replay (harmless: events are deduplicated), never a gap.
"""

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from orderstate import metrics
from orderstate.projector.queries import query
from orderstate.worker.alignment import TopicAligner

__all__ = ["SeekToStoredOffsets"]

log = structlog.get_logger("orderstate.worker")


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped base
    def __init__(
        self,
        consumer: Any,
        *,
        pool: asyncpg.Pool,
        group: str,
        batch_lock: asyncio.Lock,
        applied: dict[TopicPartition, int],
        aligner: TopicAligner,
    ) -> None:
        self._consumer = consumer
        self._aligner = aligner
        # Shared with the worker: where each assigned partition's applied offsets stand.
        self._applied = applied
        self._pool = pool
        self._group = group
        self._batch_lock = batch_lock

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Let the batch in flight commit before another member takes its partitions.
        async with self._batch_lock:
            log.info("partitions_revoked", partitions=_names(revoked))
        self._aligner.release(revoked)
        for tp in revoked:
            self._applied.pop(tp, None)
            # Another member reports these now; a stale value here would double-count lag.
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        topics = sorted({tp.topic for tp in assigned})
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query("load_offsets"), self._group, topics)
        stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        # Records this worker held back for a twin are read again from where they started.
        restart = self._aligner.release(assigned)
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition), restart.get(tp))
            if offset is not None:
                self._consumer.seek(tp, offset)
                self._applied[tp] = offset
            else:
                self._applied.pop(tp, None)
        log.info(
            "partitions_assigned",
            partitions=_names(assigned),
            seeked={f"{t}[{p}]": o for (t, p), o in sorted(stored.items())},
        )


def _names(partitions: list[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)
