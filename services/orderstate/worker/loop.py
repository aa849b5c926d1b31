"""The projector worker: Kafka records in, one deterministic stream per partition pair,
``apply_batch``, offsets out.

The sequencer merges the two inbound topics pair by pair in an order that depends only on
what the topics hold (worker/merge.py), so any number of workers, any batch size, restarts
and rebalances give the same orders, and so does a replay. The database commit comes first
and holds the truth (views, offsets and partition times together); the Kafka commit follows
for lag tooling. Bad input never stops the worker: it becomes an ``event.rejected``. When
PostgreSQL goes away the batch is retried with backoff and is not lost; when no progress is
made while there is lag, the watchdog ends the process non-zero so Kubernetes restarts it.
"""

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError

from orderstate import metrics
from orderstate.domain import PolicyBook
from orderstate.events.decode import DecodeLimits
from orderstate.kafka_client import expected_partition, kafka_options
from orderstate.projector.apply import BatchResult, apply_batch
from orderstate.projector.connection import DATABASE_DOWN, while_database_down
from orderstate.projector.inputs import Incoming, Input, Malformed, Passed
from orderstate.projector.queries import query
from orderstate.settings import Settings
from orderstate.startup import StartupError, start_kafka_client
from orderstate.worker.log_writer import LogWriter
from orderstate.worker.offsets import SeekToStoredOffsets
from orderstate.worker.records import refused
from orderstate.worker.sequencer import Sequencer
from orderstate.worker.undecodable import UNDECODABLE_MESSAGE, Undecodable, locate

__all__ = ["WATCHDOG_EXIT_CODE", "Worker", "projector_consumer"]

log = structlog.get_logger("orderstate.worker")

WATCHDOG_EXIT_CODE = 3
# How often idle partitions are checked: parked events due on a quiet pair, offsets past
# transaction markers, and the stall gauge of every partition.
_HOUSEKEEPING_S = 5.0
_PARKED_CHECK_S = 30.0
# How often a gathering batch checks whether the worker has become free to apply it.
_BUSY_CHECK_S = 0.002
# Records read and decoded at a time before the fetch task lets the apply go on (bench/
# results-backlog-rate.md): about 2 ms of work.
_DECODE_SLICE = 50
# How long a stopping worker waits for its last offsets to reach Kafka.
_FINAL_COMMIT_S = 5.0
# Errors about the data of an event (a value PostgreSQL cannot store), not about the database.
# A list with one id twice (items, shipments) is a cardinality violation of the upsert that
# writes it; the decoders refuse such lists first.
_REFUSED_DATA = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.CardinalityViolationError,
)

Markers = Literal["write", "settle", "hold"]


@dataclass(frozen=True, slots=True)
class _Batch:
    inputs: list[Input]
    decode_s: float
    generation: int


def projector_consumer(settings: Settings) -> AIOKafkaConsumer:
    """The worker's member of the projector group, not yet subscribed."""
    return AIOKafkaConsumer(
        **kafka_options(settings, role="worker"),
        group_id=settings.consumer_group,
        group_instance_id=settings.kafka_group_instance_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=settings.batch_max_events,
        max_partition_fetch_bytes=settings.kafka_max_partition_fetch_bytes,
        fetch_min_bytes=settings.kafka_fetch_min_bytes,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        # Partition p of both inbound topics goes to the same member, so the pair can be
        # merged by one worker.
        partition_assignment_strategy=(RangePartitionAssignor,),
    )


class Worker:
    """``markers="write"`` is the live worker. ``markers="settle"`` is for a run over a log
    that nobody writes any more (a replay into another database): it writes nothing to the
    topics, treats a partition at its end as if a marker had been written to it, and applies
    the copies the live run made of misplaced records instead of making new ones.
    ``markers="hold"`` is a replay of a log that the live worker still writes (``orderstate
    rebuild``): it writes nothing either, but decides only what the log already settled, so
    records waiting at the end for a silent twin partition stay for the live worker's
    marker (or for the worker that takes over the database) instead of being settled here."""

    def __init__(
        self,
        settings: Settings,
        policies: PolicyBook,
        pool: asyncpg.Pool,
        *,
        stop: asyncio.Event,
        watchdog_timeout_s: float,
        markers: Markers = "write",
    ) -> None:
        self.settings = settings
        self.policies = policies
        self.pool = pool
        self.stop = stop
        self.watchdog_timeout_s = watchdog_timeout_s
        self.markers = markers
        self.topics = (settings.topic_orders, settings.topic_shipments)
        self.batch_lock = asyncio.Lock()
        self.last_progress = time.monotonic()
        self.lag = 0
        # Inputs released by the sequencer but not yet committed: work the consumer's
        # position no longer shows as lag.
        self.in_flight = 0
        # Bumped on every rebalance: batches built before it are re-read from stored offsets.
        self.generation = 0
        # The next offset to apply per partition, as committed by this worker.
        self.applied: dict[TopicPartition, int] = {}
        # Offsets applied and not yet committed to Kafka, and the task committing them. The
        # Kafka commit serves lag tooling only (PostgreSQL holds the offsets that count), so
        # the next batch does not wait for the broker's answer: a round trip per batch that
        # kept the loop from the next batch.
        self.kafka_pending: dict[TopicPartition, int] = {}
        self.kafka_committer: asyncio.Task[None] | None = None
        self.events_processed = 0
        self.exit_code = 0
        self.consumer: Any = projector_consumer(settings)
        self.sequencer = Sequencer(
            self.consumer,
            orders_topic=settings.topic_orders,
            shipments_topic=settings.topic_shipments,
            limits=DecodeLimits(max_payload_bytes=settings.max_payload_bytes),
            marker_wait_s=settings.merge_marker_wait_ms / 1000,
            hold_limit=settings.batch_max_events,
        )
        self.writer = LogWriter(settings)

    async def run(self) -> int:
        self.listener = listener = SeekToStoredOffsets(
            self.consumer,
            pool=self.pool,
            group=self.settings.consumer_group,
            orders_topic=self.settings.topic_orders,
            batch_lock=self.batch_lock,
            sequencer=self.sequencer,
            on_change=self._rebalanced,
        )
        self.consumer.subscribe(list(self.topics), listener=listener)
        await start_kafka_client(self.consumer, self.settings, "worker")
        try:
            if self.markers == "write":
                await start_kafka_client(self.writer.producer, self.settings, "worker")
            await self._check_topics()
            await self._assign_legacy_parked_pairs()
        except BaseException:
            await self.consumer.stop()
            await self.writer.stop()
            raise
        log.info("worker_started", topics=list(self.topics), group=self.settings.consumer_group)
        main = asyncio.current_task()
        assert main is not None  # noqa: S101 -- run() always runs inside a task
        watchdog = asyncio.create_task(self._watchdog(main), name="watchdog")
        # One batch is fetched and decoded while the previous one waits on PostgreSQL: the
        # database works on the other core instead of the worker idling for it.
        ready: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=1)
        fetcher = asyncio.create_task(self._fetch(ready), name="fetch")
        # Its own task: the stall gauge must move also while a batch is stuck.
        housekeeper = asyncio.create_task(self._housekeeping(), name="housekeeping")
        try:
            while not self.stop.is_set():
                batch = await self._next(ready, fetcher)
                if batch is not None:
                    await self._process(batch)
                elif self.lag == 0 and not self.in_flight and not self.sequencer.waiting:
                    self.last_progress = time.monotonic()
        except asyncio.CancelledError:
            if self.exit_code != WATCHDOG_EXIT_CODE:
                raise
            # The watchdog interrupted a batch that made no progress; it was not committed.
        finally:
            fetcher.cancel()
            watchdog.cancel()
            housekeeper.cancel()
            await self._finish_kafka_commits()
            # Leaves the group at once, so the partitions move without a session timeout.
            await self.consumer.stop()
            await self.writer.stop()
            log.info("worker_stopped", exit_code=self.exit_code)
        return self.exit_code

    def _rebalanced(self) -> None:
        self.generation += 1

    async def _check_topics(self) -> None:
        """Both inbound topics exist and have the same partition count: the pair merge puts
        partition p of one beside partition p of the other."""
        await self.consumer.topics()
        counts = {t: self.consumer.partitions_for_topic(t) for t in self.topics}
        missing = [t for t, parts in counts.items() if not parts]
        if missing:
            raise StartupError(
                f"topic(s) {', '.join(missing)} do not exist at "
                f"{self.settings.kafka_bootstrap_servers}; create them with "
                "`orderstate topics create` (same partition count for both inbound topics)"
            )
        sizes = {t: len(parts) for t, parts in counts.items()}
        if len(set(sizes.values())) != 1:
            raise StartupError(
                "the inbound topics must have the same partition count, because an order's "
                f"events are merged from partition p of both; found {sizes}. Add partitions to "
                "the smaller one (see README, 'How scaling works')."
            )
        self.sequencer.partitions = sizes

    async def _assign_legacy_parked_pairs(self) -> None:
        """Rows parked before migration 5 have no partition pair; give them theirs."""
        partitions = self.sequencer.partitions[self.settings.topic_shipments]
        async for attempt in while_database_down("assign_parked_pairs"):
            with attempt:
                async with self.pool.acquire() as conn:
                    rows = await conn.fetch(query("parked_without_pair"))
                    if not rows:
                        return
                    await conn.execute(
                        query("set_parked_pairs"),
                        [r["source"] for r in rows],
                        [r["event_id"] for r in rows],
                        [
                            expected_partition(
                                f"{r['shop_id']}:{r['order_id']}".encode(), partitions
                            )
                            for r in rows
                        ],
                    )
                log.info("parked_events_given_pairs", count=len(rows))
                return

    # -- fetching ------------------------------------------------------------------------

    async def _fetch(self, ready: "asyncio.Queue[_Batch]") -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            inputs, generation = await self._collect()
            if inputs:
                self.in_flight += len(inputs)
                await ready.put(_Batch(inputs, time.perf_counter() - started, generation))

    async def _next(
        self, ready: "asyncio.Queue[_Batch]", fetcher: asyncio.Task[None]
    ) -> "_Batch | None":
        """The next batch, or None after a second without one."""
        if fetcher.done():
            fetcher.result()  # a crashed fetch loop must end the worker, not hang it
        try:
            async with asyncio.timeout(1.0):
                return await ready.get()
        except TimeoutError:
            return None

    async def _collect(self) -> tuple[list[Input], int]:
        """Up to batch_max_events inputs, and the assignment generation they belong to. A
        batch gathers while the previous one is applied and closes as soon as the worker is
        free to apply it, or batch_max_wait_ms after its first input; an idle worker takes
        what arrived at once."""
        generation = self.generation
        limit = self.settings.batch_max_events
        window = self.settings.batch_max_wait_ms / 1000
        marker_wait = self.settings.merge_marker_wait_ms / 1000
        inputs: list[Input] = []
        idle_until = time.monotonic() + 1.0
        deadline = math.inf
        while len(inputs) < limit and not self.stop.is_set():
            now = time.monotonic()
            if inputs:
                # in_flight is what is queued or being applied: at zero the worker waits for
                # this batch, and holding it longer would only add latency.
                if self.in_flight == 0 or deadline <= now:
                    break
                timeout = min(deadline - now, _BUSY_CHECK_S)
            elif self.sequencer.waiting:
                # Records wait for a silent partition: look again soon, to write its marker.
                timeout = max(marker_wait / 2, 0.001)
            else:
                timeout = idle_until - now
                if timeout <= 0:
                    break
            got = await self._getmany(timeout, limit - len(inputs))
            if got is None:
                continue
            if self.generation != generation:
                # A rebalance happened during the fetch: what was gathered before it is read
                # again from the stored offsets; the sequencer restarted from them too.
                inputs.clear()
                deadline = math.inf
                generation = self.generation
            if not await self._push(got, generation):
                # A rebalance happened during the push. The records it had not pushed yet were
                # fetched before it, and the listener moved every position back to the stored
                # offsets: they are read again, as is what was gathered.
                inputs.clear()
                deadline = math.inf
                generation = self.generation
                continue
            forwards = self.sequencer.take_forwards()
            if forwards and self.markers == "write":
                # Before the originals' batch can commit: the copies must exist first.
                await self.writer.forward(forwards)
            inputs.extend(self.sequencer.release(limit - len(inputs)))
            if self.sequencer.waiting:
                inputs.extend(await self._settle_silent_partitions())
            if inputs and deadline == math.inf:
                deadline = time.monotonic() + window
        return inputs, generation

    async def _getmany(
        self, wait_s: float, max_records: int
    ) -> dict[TopicPartition, list[Any]] | None:
        """Records fetched within ``wait_s`` seconds; None after a failed fetch."""
        try:
            got: dict[TopicPartition, list[Any]] = await self.consumer.getmany(
                timeout_ms=max(math.ceil(wait_s * 1000), 1), max_records=max_records
            )
        except KafkaError as exc:
            log.warning("kafka_fetch_failed", error=str(exc))
            await asyncio.sleep(1)
            return None
        except UnicodeDecodeError as exc:
            return await self._read_past_undecodable(exc)
        return got

    async def _push(self, got: dict[TopicPartition, list[Any]], generation: int) -> bool:
        """Hand fetched records to the sequencer, which reads and decodes each, a slice at a
        time, letting the batch being applied go on between slices. In one piece, the decode of
        a fetch (up to a batch, some 20 ms) ran when the batch being applied first waited for
        PostgreSQL, and held it up until the decode was done; the apply's longer wait for its
        write statement later found nothing left to decode. False when a rebalance came
        between two slices: the push stopped there."""
        first = True
        for tp, records in got.items():
            for start in range(0, len(records), _DECODE_SLICE):
                if not first:
                    await asyncio.sleep(0)
                    if self.generation != generation:
                        # The misplaced records among the pushed ones are read again, and
                        # copied then: copied now too, they would be in the log twice.
                        self.sequencer.take_forwards()
                        return False
                first = False
                self.sequencer.push({tp: records[start : start + _DECODE_SLICE]})
        return True

    async def _read_past_undecodable(
        self, error: UnicodeDecodeError
    ) -> dict[TopicPartition, list[Any]]:
        """After getmany() raised UnicodeDecodeError (worker/undecodable.py): the records of
        the bad record's partition up to it, then the bad record's stand-in; the partition
        goes on after it. Every partition is first read again from its stored offsets, as
        after a rebalance, because the failed call advanced positions past records it never
        returned."""
        found = locate(self.consumer)
        if found is None:
            # No silent skip: the worker ends, and its exit shows in its logs and restarts.
            log.error("record_undecodable_unlocated")
            raise error
        tp, offset = found
        log.error(
            "record_undecodable",
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            error=UNDECODABLE_MESSAGE,
        )
        assignment = list(self.consumer.assignment())
        await self.listener.on_partitions_revoked(assignment)
        await self.listener.on_partitions_assigned(assignment)
        records: list[Any] = []
        # One record per call: a call that reaches the bad record raises and drops what it
        # read before it.
        while not self.stop.is_set() and await self.consumer.position(tp) < offset:
            try:
                got = await self.consumer.getmany(tp, timeout_ms=1000, max_records=1)
            except UnicodeDecodeError:
                break  # only control records stood between the last one read and the bad one
            except KafkaError as exc:
                log.warning("kafka_fetch_failed", error=str(exc))
                await asyncio.sleep(1)
                continue
            records.extend(got.get(tp, ()))
        records.append(Undecodable(tp.topic, tp.partition, offset))
        self.consumer.seek(tp, offset + 1)
        return {tp: records}

    async def _settle_silent_partitions(self) -> list[Input]:
        if self.markers == "hold":
            return []
        silent = [tp for tp in self.consumer.assignment() if await self._at_end(tp)]
        if self.markers == "settle":
            return self.sequencer.settle_silent(silent)
        for request in self.sequencer.markers_due(silent):
            self.writer.mark(request.tp, request.time_ms)
        return []

    async def _at_end(self, tp: TopicPartition) -> bool:
        """Nothing more to read from this partition right now (as of the last fetch)."""
        end = self._end_of(tp)
        if end is None:
            return False
        try:
            position: int = await self.consumer.position(tp)
        except KafkaError:
            return False
        return position >= end

    def _end_of(self, tp: TopicPartition) -> int | None:
        # read_committed: the last stable offset, past which nothing can be read yet.
        lso = self.consumer.last_stable_offset(tp)
        if lso is not None and lso >= 0:
            return int(lso)
        highwater = self.consumer.highwater(tp)
        return None if highwater is None else int(highwater)

    # -- applying ------------------------------------------------------------------------

    async def _process(self, batch: "_Batch") -> None:
        inputs = batch.inputs
        started = time.perf_counter()
        async with self.batch_lock:
            if batch.generation != self.generation:
                # Built before a rebalance: the new owner (or this worker again) reads these
                # records from the stored offsets.
                self.in_flight -= len(inputs)
                log.info("stale_batch_dropped", count=len(inputs))
                return
            result = await self._apply(inputs)
        elapsed = time.perf_counter() - started
        self._commit_to_kafka(inputs)
        self.last_progress = time.monotonic()
        self.in_flight -= len(inputs)
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
            passed=result.counts["passed"],
            unparked=result.unparked,
            expired=result.expired,
            duration_ms=round(elapsed * 1000, 1),
            decode_ms=round(batch.decode_s * 1000, 1),
        )
        for item, outcome in zip(inputs, result.outcomes, strict=True):
            if outcome.reason is not None and not isinstance(item, Passed):
                _log_rejection(item, outcome.reason.value)

    async def _apply(self, inputs: list[Input]) -> BatchResult:
        """Apply a batch; if PostgreSQL refuses its data, find the event it refuses by halving
        the batch, and reject that event instead of stopping the worker on it."""
        try:
            return await self._apply_retrying(inputs)
        except asyncpg.PostgresError as exc:
            if isinstance(exc, DATABASE_DOWN) or not isinstance(exc, _REFUSED_DATA):
                raise
            if len(inputs) == 1:
                item = inputs[0]
                if isinstance(item, Passed):
                    raise
                log.error("event_refused_by_database", error=repr(exc), position=_position(item))
                return await self._apply_retrying([refused(item, exc)])
            middle = len(inputs) // 2
            first = await self._apply(inputs[:middle])
            second = await self._apply(inputs[middle:])
            return first.merged_with(second)

    async def _apply_retrying(self, inputs: list[Input]) -> BatchResult:
        async for attempt in while_database_down("apply_batch"):
            with attempt:
                async with self.pool.acquire() as conn:
                    return await apply_batch(
                        conn,
                        inputs,
                        policies=self.policies,
                        now=datetime.now(UTC),
                        consumer_group=self.settings.consumer_group,
                        max_event_bytes=self.settings.max_event_bytes,
                    )
        raise AssertionError("unreachable: tenacity retries until success or reraises")

    def _commit_to_kafka(self, inputs: list[Input]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for item in inputs:
            p = item.position
            if p is not None:
                offsets[TopicPartition(p.topic, p.partition)] = p.offset + 1
        self.applied.update(offsets)
        self._kafka_commit(offsets)

    def _kafka_commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets`` to Kafka in the background, after those before them."""
        self.kafka_pending.update(offsets)
        if self.kafka_committer is None or self.kafka_committer.done():
            self.kafka_committer = asyncio.create_task(self._commit_pending(), name="kafka-commit")
        # else the task in flight takes these after its request

    async def _commit_pending(self) -> None:
        # One request at a time; what arrives meanwhile goes in the next one, so the latest
        # offset of a partition is committed last.
        while self.kafka_pending:
            assigned = self.consumer.assignment()
            offsets = {tp: o for tp, o in self.kafka_pending.items() if tp in assigned}
            self.kafka_pending = {}
            if not offsets:
                continue
            try:
                await self.consumer.commit(offsets)
            except (CommitFailedError, KafkaError) as exc:
                # PostgreSQL already holds these offsets; the next owner starts from there.
                log.warning("kafka_commit_failed", error=str(exc))
            except Exception as exc:
                # Said at error level; the offsets that count are stored, so applying goes on.
                log.error("kafka_commit_crashed", error=repr(exc))

    async def _finish_kafka_commits(self) -> None:
        """Let the last offsets reach Kafka before the consumer leaves, for a few seconds
        at most: a broker that does not answer must not hold the shutdown up."""
        committer = self.kafka_committer
        if committer is None:
            return
        done, _ = await asyncio.wait({committer}, timeout=_FINAL_COMMIT_S)
        if not done:
            committer.cancel()
            log.warning("kafka_commit_abandoned", partitions=len(self.kafka_pending))

    # -- housekeeping --------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        next_parked_check = time.monotonic()
        while True:
            try:
                await self._report_stalls()
                await self._step_over_transaction_markers()
                if self.markers == "write" and time.monotonic() >= next_parked_check:
                    await self._tick_quiet_pairs_with_due_parked()
                    next_parked_check = time.monotonic() + _PARKED_CHECK_S
            except (KafkaError, *DATABASE_DOWN) as exc:
                log.warning("worker_housekeeping_failed", error=repr(exc))
            await asyncio.sleep(_HOUSEKEEPING_S)

    async def _step_over_transaction_markers(self) -> None:
        """A transactional producer's commit marker takes an offset after its last record.
        When a partition is read to its end with nothing waiting, store the consumer's
        position, so neither the stored nor the committed offsets show a lag of one forever."""
        if self.in_flight:
            return
        waiting = self.sequencer.waiting_by_partition()
        times = self.sequencer.times()
        log_times = self.sequencer.log_times()
        moved: dict[TopicPartition, int] = {}
        for tp in self.consumer.assignment():
            done = self.applied.get(tp)
            if done is None or waiting.get(tp) or not await self._at_end(tp):
                continue
            position: int = await self.consumer.position(tp)
            if position > done:
                moved[tp] = position
        if not moved:
            return
        async with self.batch_lock, self.pool.acquire() as conn:
            await conn.execute(
                query("store_offsets"),
                self.settings.consumer_group,
                [tp.topic for tp in moved],
                [tp.partition for tp in moved],
                list(moved.values()),
                [times.get(tp, 0) for tp in moved],
                [log_times.get(tp, 0) for tp in moved],
                datetime.now(UTC),
            )
        self.applied.update(moved)
        self._kafka_commit(moved)

    async def _report_stalls(self) -> None:
        """How long each partition of the group (not only this worker's) has had records to
        apply while none were: a worker that died shows here before its partitions move."""
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(self.consumer.partitions_for_topic(topic) or ())
        ]
        ends = await self.consumer.end_offsets(partitions)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                query("offsets_with_age"), self.settings.consumer_group, list(self.topics)
            )
        stored = {(r["topic"], r["partition"]): (r["next_offset"], r["age_s"]) for r in rows}
        for tp in partitions:
            next_offset, age = stored.get((tp.topic, tp.partition), (None, 0.0))
            behind = next_offset is not None and ends.get(tp, 0) > next_offset
            metrics.PARTITION_STALLED.labels(tp.topic, str(tp.partition)).set(
                age if behind else 0.0
            )

    async def _tick_quiet_pairs_with_due_parked(self) -> None:
        """Parked events expire when their pair's log clock passes their deadline. A quiet
        pair's clock stands still: write a clock tick to its orders partition (its Kafka
        timestamp moves the clock on), so the deadline passes in the log, at a point every
        replay sees too."""
        pairs = sorted({tp.partition for tp in self.consumer.assignment()})
        if not pairs:
            return
        try:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(query("parked_due_by_pair"), pairs)
        except DATABASE_DOWN as exc:
            log.warning("parked_check_skipped", error=repr(exc))
            return
        now_ms = int(time.time() * 1000)
        for row in rows:
            pair, due = row["pair"], row["due_ms"]
            sides = [TopicPartition(topic, pair) for topic in self.topics]
            if due > now_ms or self.sequencer.clock(pair) >= due:
                continue
            if any([not await self._at_end(tp) for tp in sides]):
                continue  # records are coming; they move the clock on
            self.writer.mark(sides[0], now_ms, tick=True)
            log.info("parked_deadline_ticked", pair=pair, due_ms=due)

    async def _watchdog(self, main: "asyncio.Task[Any]") -> None:
        """End the worker when it makes no progress while there is lag: a batch stuck on a lock
        or a database that never comes back would otherwise hang it silently."""
        while True:
            await asyncio.sleep(min(5.0, self.watchdog_timeout_s / 3))
            self.lag = await self._measure_lag()
            stalled = time.monotonic() - self.last_progress
            pending = self.lag + self.in_flight + self.sequencer.waiting
            if pending > 0 and stalled > self.watchdog_timeout_s:
                log.error(
                    "watchdog_no_progress",
                    lag=self.lag,
                    in_flight=self.in_flight,
                    waiting=self.sequencer.waiting,
                    stalled_s=round(stalled, 1),
                    timeout_s=self.watchdog_timeout_s,
                )
                self.exit_code = WATCHDOG_EXIT_CODE
                self.stop.set()
                main.cancel()
                return

    async def _measure_lag(self) -> int:
        """Records between the consumer's position and what can be read of each partition:
        measured from the position, not from the last applied offset, because transaction
        markers take offsets that are never applied."""
        total = 0
        for tp in self.consumer.assignment():
            end = self._end_of(tp)
            if end is None:
                continue
            try:
                position: int = await self.consumer.position(tp)
            except KafkaError:
                continue
            lag = max(end - position, 0)
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


def _position(item: Input) -> str | None:
    p = item.position
    return None if p is None else f"{p.topic}[{p.partition}]@{p.offset}"
