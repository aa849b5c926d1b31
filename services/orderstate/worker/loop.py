"""The projector worker: Kafka batches in, ``apply_batch``, offsets out.

Batches close by count or by time, whichever comes first. The database commit
comes first and holds the truth (views and offsets together); the Kafka commit
follows for lag tooling. Bad input never stops the worker: it becomes an
``event.rejected``. When PostgreSQL goes away the batch is retried with backoff
and is not lost; when no progress is made while there is lag, the watchdog
ends the process non-zero so Kubernetes restarts it.
"""

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from orderstate import metrics
from orderstate.domain import PolicyBook
from orderstate.events.decode import DecodeLimits
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import kafka_options
from orderstate.projector.apply import BatchResult, apply_batch
from orderstate.projector.connection import DATABASE_DOWN
from orderstate.projector.expiry import expire_parked
from orderstate.projector.inputs import Incoming, Malformed
from orderstate.runtime import start_kafka_client
from orderstate.settings import Settings
from orderstate.worker.alignment import TopicAligner, merge_by_time
from orderstate.worker.offsets import SeekToStoredOffsets
from orderstate.worker.records import refused, to_input

__all__ = ["WATCHDOG_EXIT_CODE", "Worker"]

log = structlog.get_logger("orderstate.worker")

WATCHDOG_EXIT_CODE = 3
_EXPIRY_INTERVAL_S = 30.0
# How often a gathering batch checks whether the worker has become free to apply it.
_BUSY_CHECK_S = 0.002
# Errors about the data of an event (a value PostgreSQL cannot store), not about the database.
_REFUSED_DATA = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


@dataclass(frozen=True, slots=True)
class _Batch:
    records: list[Any]
    inputs: list[Incoming | Malformed]
    decode_s: float


class Worker:
    def __init__(
        self,
        settings: Settings,
        policies: PolicyBook,
        pool: asyncpg.Pool,
        *,
        stop: asyncio.Event,
        watchdog_timeout_s: float,
    ) -> None:
        self.settings = settings
        self.policies = policies
        self.pool = pool
        self.stop = stop
        self.watchdog_timeout_s = watchdog_timeout_s
        self.roles = {
            settings.topic_orders: TopicRole.ORDERS_IN,
            settings.topic_shipments: TopicRole.SHIPMENTS_IN,
        }
        self.limits = DecodeLimits(max_payload_bytes=settings.max_payload_bytes)
        self.batch_lock = asyncio.Lock()
        self.last_progress = time.monotonic()
        self.lag = 0
        # Records fetched (or decoded, or being applied) but not yet committed: work the
        # consumer's position no longer shows as lag.
        self.in_flight = 0
        # The next offset to apply per partition, as committed by this worker.
        self.applied: dict[TopicPartition, int] = {}
        self.events_processed = 0
        self.exit_code = 0
        self.consumer: Any = AIOKafkaConsumer(
            **kafka_options(settings, role="worker"),
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=settings.batch_max_events,
            # Partition p of both inbound topics goes to the same member (co-partitioning),
            # so the twins can be read side by side.
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        self.aligner = TopicAligner(self.consumer, settings.topic_orders, settings.topic_shipments)

    async def run(self) -> int:
        listener = SeekToStoredOffsets(
            self.consumer,
            pool=self.pool,
            group=self.settings.consumer_group,
            batch_lock=self.batch_lock,
            applied=self.applied,
            aligner=self.aligner,
        )
        self.consumer.subscribe(list(self.roles), listener=listener)
        await start_kafka_client(self.consumer, self.settings, "worker")
        log.info("worker_started", topics=list(self.roles), group=self.settings.consumer_group)
        main = asyncio.current_task()
        assert main is not None  # noqa: S101 -- run() always runs inside a task
        watchdog = asyncio.create_task(self._watchdog(main), name="watchdog")
        # One batch is fetched and decoded while the previous one waits on PostgreSQL: the
        # database works on the other core instead of the worker idling for it.
        ready: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=1)
        fetcher = asyncio.create_task(self._fetch(ready), name="fetch")
        next_expiry = time.monotonic()
        try:
            while not self.stop.is_set():
                batch = await self._next(ready, fetcher)
                if batch is not None:
                    await self._process(batch)
                elif self.lag == 0:
                    self.last_progress = time.monotonic()
                if time.monotonic() >= next_expiry:
                    await self._expire_parked()
                    next_expiry = time.monotonic() + _EXPIRY_INTERVAL_S
        except asyncio.CancelledError:
            if self.exit_code != WATCHDOG_EXIT_CODE:
                raise
            # The watchdog interrupted a batch that made no progress; it was not committed.
        finally:
            fetcher.cancel()
            watchdog.cancel()
            # Leaves the group at once, so the partitions move without a session timeout.
            await self.consumer.stop()
            log.info("worker_stopped", exit_code=self.exit_code)
        return self.exit_code

    async def _fetch(self, ready: "asyncio.Queue[_Batch]") -> None:
        while not self.stop.is_set():
            records = await self._collect()
            if records:
                started = time.perf_counter()
                self.in_flight += len(records)
                inputs = [to_input(r, self.roles[r.topic], self.limits) for r in records]
                await ready.put(_Batch(records, inputs, time.perf_counter() - started))

    async def _next(
        self, ready: "asyncio.Queue[_Batch]", fetcher: asyncio.Task[None]
    ) -> "_Batch | None":
        """The next decoded batch, or None after a second without one."""
        if fetcher.done():
            fetcher.result()  # a crashed fetch loop must end the worker, not hang it
        try:
            async with asyncio.timeout(1.0):
                return await ready.get()
        except TimeoutError:
            return None

    async def _collect(self) -> list[Any]:
        """Up to batch_max_events records. A batch gathers while the previous one is applied
        and closes as soon as the worker is free to apply it, or batch_max_wait_ms after its
        first record; an idle worker takes what arrived at once."""
        limit = self.settings.batch_max_events
        window = self.settings.batch_max_wait_ms / 1000
        per_partition: dict[TopicPartition, list[Any]] = {}
        count = 0
        deadline = math.inf
        while count < limit and not self.stop.is_set():
            if count:
                # in_flight is what is queued or being applied: at zero the worker waits for
                # this batch, and holding it longer would only add latency.
                remaining = deadline - time.monotonic()
                if self.in_flight == 0 or remaining <= 0:
                    break
                timeout = min(remaining, _BUSY_CHECK_S)
            else:
                timeout = 1.0
            try:
                got = await self.consumer.getmany(
                    timeout_ms=math.ceil(timeout * 1000), max_records=limit - count
                )
            except KafkaError as exc:
                log.warning("kafka_fetch_failed", error=str(exc))
                await asyncio.sleep(1)
                continue
            assigned = self.consumer.assignment()
            # Records fetched before a rebalance may belong to partitions now owned by another
            # member; that member reads them from the stored offsets.
            fetched = {tp: batch for tp, batch in got.items() if tp in assigned}
            for tp, batch in (await self.aligner.admit(fetched)).items():
                per_partition.setdefault(tp, []).extend(batch)
                count += len(batch)
            if not count:
                break
            if deadline == math.inf:
                deadline = time.monotonic() + window
        return merge_by_time(per_partition.values())

    async def _process(self, batch: "_Batch") -> None:
        inputs = batch.inputs
        started = time.perf_counter()
        async with self.batch_lock:
            result = await self._apply(inputs)
        elapsed = time.perf_counter() - started
        await self._commit_to_kafka(batch.records)
        self.last_progress = time.monotonic()
        self.in_flight -= len(batch.records)
        self.events_processed += len(inputs)
        _observe(result, len(inputs), elapsed)
        log.info(
            "batch",
            count=len(inputs),
            applied=result.counts["applied"],
            late=result.counts["late"],
            rejected=result.counts["rejected"],
            malformed=result.counts["malformed"],
            duplicates=result.counts["duplicate"],
            parked=result.counts["parked"],
            unparked=result.unparked,
            duration_ms=round(elapsed * 1000, 1),
            decode_ms=round(batch.decode_s * 1000, 1),
        )
        for item, outcome in zip(inputs, result.outcomes, strict=True):
            if outcome.reason is not None:
                _log_rejection(item, outcome.reason.value)

    async def _apply(self, inputs: list[Incoming | Malformed]) -> BatchResult:
        """Apply a batch; if PostgreSQL refuses its data, find the event it refuses by halving
        the batch, and reject that event instead of stopping the worker on it."""
        try:
            return await self._apply_retrying(inputs)
        except asyncpg.PostgresError as exc:
            if isinstance(exc, DATABASE_DOWN) or not isinstance(exc, _REFUSED_DATA):
                raise
            if len(inputs) == 1:
                log.error(
                    "event_refused_by_database", error=repr(exc), position=_position(inputs[0])
                )
                return await self._apply_retrying([refused(inputs[0], exc)])
            middle = len(inputs) // 2
            first = await self._apply(inputs[:middle])
            second = await self._apply(inputs[middle:])
            merged = BatchResult(
                outcomes=first.outcomes + second.outcomes,
                unparked=first.unparked + second.unparked,
            )
            merged.counts.update(first.counts + second.counts)
            return merged

    async def _apply_retrying(self, inputs: list[Incoming | Malformed]) -> BatchResult:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(DATABASE_DOWN),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            before_sleep=lambda state: log.warning(
                "database_unavailable_retrying",
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        ):
            with attempt:
                async with self.pool.acquire() as conn:
                    return await apply_batch(
                        conn,
                        inputs,
                        policies=self.policies,
                        now=datetime.now(UTC),
                        consumer_group=self.settings.consumer_group,
                    )
        raise AssertionError("unreachable: tenacity retries until success or reraises")

    async def _commit_to_kafka(self, records: Sequence[Any]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            offsets[TopicPartition(r.topic, r.partition)] = r.offset + 1
        self.applied.update(offsets)
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # PostgreSQL already holds these offsets; the next owner starts from there.
            log.warning("kafka_commit_failed", error=str(exc))

    async def _expire_parked(self) -> None:
        try:
            async with self.pool.acquire() as conn:
                expired = await expire_parked(conn, policies=self.policies, now=datetime.now(UTC))
        except DATABASE_DOWN as exc:
            log.warning("parked_expiry_skipped", error=repr(exc))
            return
        if expired:
            metrics.PARKED_EXPIRED.inc(expired)
            log.info("parked_expired", count=expired)

    async def _watchdog(self, main: "asyncio.Task[Any]") -> None:
        """End the worker when it makes no progress while there is lag: a batch stuck on a lock
        or a database that never comes back would otherwise hang it silently."""
        while True:
            await asyncio.sleep(min(5.0, self.watchdog_timeout_s / 3))
            self.lag = await self._measure_lag()
            stalled = time.monotonic() - self.last_progress
            if self.lag + self.in_flight > 0 and stalled > self.watchdog_timeout_s:
                log.error(
                    "watchdog_no_progress",
                    lag=self.lag,
                    in_flight=self.in_flight,
                    stalled_s=round(stalled, 1),
                    timeout_s=self.watchdog_timeout_s,
                )
                self.exit_code = WATCHDOG_EXIT_CODE
                self.stop.set()
                main.cancel()
                return

    async def _measure_lag(self) -> int:
        """Records between what this worker committed and each partition's high watermark."""
        total = 0
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            done = self.applied.get(tp)
            if done is None:
                try:
                    done = await self.consumer.position(tp)
                except KafkaError:
                    continue
            lag = max(highwater - done, 0)
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
            total += lag
        return total


def _observe(result: BatchResult, count: int, elapsed: float) -> None:
    metrics.BATCH_DURATION.observe(elapsed)
    metrics.BATCH_SIZE.observe(count)
    tally = Counter(
        (o.kind.value, o.reason.value if o.reason is not None else "") for o in result.outcomes
    )
    for (kind, reason), n in tally.items():
        metrics.EVENTS.labels(kind, reason).inc(n)


def _log_rejection(item: Incoming | Malformed, reason: str) -> None:
    if isinstance(item, Incoming):
        event = item.decoded.event
        ids = {"shop_id": event.shopid, "order_id": event.orderid, "event_id": event.id}
    else:
        shop_id, order_id = item.key
        ids = {"shop_id": shop_id, "order_id": order_id, "event_id": item.original.event_id or ""}
    with structlog.contextvars.bound_contextvars(**ids):
        log.info("event_rejected", reason=reason, position=_position(item))


def _position(item: Incoming | Malformed) -> str | None:
    p = item.position
    return None if p is None else f"{p.topic}[{p.partition}]@{p.offset}"
