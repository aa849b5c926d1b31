"""What the worker writes to the inbound topics: merge markers for silent partitions, and
copies of records that sit in a partition their key does not map to.

Both become part of the log, so a replay of the topics sees the same merge decisions and the
same copies as the live run did (docs/reliability.md).
"""

import asyncio
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from orderstate import metrics
from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from orderstate.worker.records import FORWARDED_FROM_HEADER, MARKER_HEADER, TICK_HEADER
from orderstate.worker.sequencer import Forward

__all__ = ["LogWriter"]

log = structlog.get_logger("orderstate.worker")


class LogWriter:
    def __init__(self, settings: Settings) -> None:
        self.producer: Any = AIOKafkaProducer(
            **kafka_options(settings, role="worker-log"),
            enable_idempotence=True,
            acks="all",
            linger_ms=0,
        )
        self._markers: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in self._markers:
            task.cancel()
        await self.producer.stop()

    async def forward(self, forwards: list[Forward]) -> None:
        """Copy misplaced records to their partition; return once the broker has them all, so
        the batch that passes over the originals commits only after the copies exist."""
        if not forwards:
            return
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(KafkaError),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            before_sleep=lambda state: log.warning(
                "forward_failed_retrying",
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        ):
            with attempt:
                sent = []
                for f in forwards:
                    r = f.record
                    origin = f"{r.topic}/{r.partition}/{r.offset}".encode()
                    headers = [*(r.headers or ()), (FORWARDED_FROM_HEADER, origin)]
                    sent.append(
                        await self.producer.send(
                            r.topic,
                            key=r.key,
                            value=r.value,
                            headers=headers,
                            partition=f.partition,
                            timestamp_ms=r.timestamp,
                        )
                    )
                await asyncio.gather(*sent)
        for f in forwards:
            log.info(
                "record_forwarded",
                topic=f.record.topic,
                from_partition=f.record.partition,
                offset=f.record.offset,
                to_partition=f.partition,
            )

    def mark(self, tp: TopicPartition, time_ms: int, *, tick: bool = False) -> None:
        """Append a merge marker (or a clock tick); it takes effect when the worker reads it
        back."""
        task = asyncio.create_task(self._mark(tp, time_ms, TICK_HEADER if tick else MARKER_HEADER))
        self._markers.add(task)
        task.add_done_callback(self._markers.discard)

    async def _mark(self, tp: TopicPartition, time_ms: int, header: str) -> None:
        try:
            await (
                await self.producer.send(
                    tp.topic,
                    # No key (it belongs to no order); an empty value, as a record needs one.
                    key=None,
                    value=b"",
                    headers=[(header, str(time_ms).encode())],
                    partition=tp.partition,
                )
            )
        except KafkaError as exc:
            # The sequencer asks again after a while; nothing waits on this one.
            log.warning(
                "merge_marker_failed", topic=tp.topic, partition=tp.partition, error=str(exc)
            )
            return
        metrics.MERGE_MARKERS.labels(tp.topic).inc()
