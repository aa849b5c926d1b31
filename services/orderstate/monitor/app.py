"""``orderstate monitor``: a faust-streaming app over orderstate's outbound topics that turns
the lifecycle deadlines of the shops' alert rules into alerts (docs/monitor.md).

- One agent reads ``orderstate.order-events.v1`` and ``orderstate.rejected.v1`` in batches
  (``noack_take``). Each order event folds into the order's row of the ``monitor-orders``
  table (``watches.py``) and the order is judged at once (``decisions.py``, ``alerting.py``);
  so are the orders whose deadlines the partition's time passed. The batch's alert events,
  the table's changelog records and the live counts' changelog records are published together
  and acknowledged (``publisher.py``); the alerts are upserted into PostgreSQL (``store.py``);
  only then are the batch's records acknowledged to faust, which commits their offsets. A
  crash at any point repeats work, never loses it.
- A timer looks every ``ORDERSTATE_MONITOR_TICK_MS`` for deadlines that passed while no event
  came (``timekeeping.DueIndex``), at each partition's own time (``timekeeping``).
- A timer on the group's leader compares ``parked_events`` with the open ``parked_too_long``
  alerts; another refreshes the gauges.
- The same deadline timer seeks back a partition faust read past records it never handed to
  the agent (``delivery.DeliveryWatch``, a guard against a faust-streaming bug).

The batch, the deadline timer and the parked timer take one lock: a monitor makes one
decision at a time, so an alert cannot be raised and cleared out of order.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import faust
import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import TP
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from orderstate import metrics
from orderstate.domain import OrderState, PolicyBook
from orderstate.kafka_client import kafka_options
from orderstate.monitor.changelogs import WATCH_TABLE
from orderstate.monitor.counts import HourlyCounts
from orderstate.monitor.decisions import Pass, alert_output
from orderstate.monitor.delivery import DeliveryWatch
from orderstate.monitor.exports import export_counts, export_open_alerts
from orderstate.monitor.faust_app import create_app, input_topics
from orderstate.monitor.parked import parked_changes
from orderstate.monitor.publisher import Outgoing, Publisher, changelog_record
from orderstate.monitor.records import OrderEvent, order_event, rejection
from orderstate.monitor.store import (
    AlertRow,
    delete_cleared_alerts,
    open_parked_alerts,
    parked_orders,
    write_alerts,
)
from orderstate.monitor.timekeeping import DueIndex, PartitionTime
from orderstate.monitor.watches import Row, fold
from orderstate.projector.connection import DATABASE_DOWN
from orderstate.settings import Settings

__all__ = ["Monitor", "counted_as"]

log = structlog.get_logger("orderstate.monitor")

_GAUGES_S = 10.0
_RETENTION_EVERY_S = 3600.0
# How long nothing may reach the agent, with nothing waiting or being processed, before the
# consumer's positions are compared with what it delivered: far longer than a batch takes to
# fill (ORDERSTATE_MONITOR_BATCH_MAX_WAIT_MS), so records still on their way are not read twice.
_DELIVERY_QUIET_S = 5.0
# Errors of Kafka or PostgreSQL that a retry may outlast; anything else is a bug.
_TRANSIENT = (KafkaError, OSError, asyncpg.PostgresConnectionError, *DATABASE_DOWN)
# Counted per shop and hour besides creations: the states order.state_changed moved to.
_COUNTED_MOVES = {OrderState.SHIPPED: "shipped", OrderState.COMPLETED: "completed"}

T = TypeVar("T")


def counted_as(event: OrderEvent) -> list[str]:
    """The live counts an order event adds to: a creation (a state change from no state, in
    whatever state the order was created: it may start as paid) and a move to shipped or
    completed."""
    if event.to_state is None:
        return []
    counts = ["created"] if event.from_state is None else []
    moved = _COUNTED_MOVES.get(event.to_state)
    return [*counts, moved] if moved else counts


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Monitor:
    def __init__(
        self,
        settings: Settings,
        policies: PolicyBook,
        pool: asyncpg.Pool,
        *,
        stop: asyncio.Event,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.settings = settings
        self.policies = policies
        self.pool = pool
        self.stop = stop
        self.clock = clock
        self.time = PartitionTime(self._clock_ms)
        self.due = DueIndex()
        self.lock = asyncio.Lock()
        self.publisher = Publisher(settings)
        self.assigned: set[int] = set()
        # Partitions taken away and not given back: records of them still in faust's buffers
        # belong to their new owner.
        self.lost: set[int] = set()
        self.failed: BaseException | None = None
        self.started = False
        self._last_retention = 0.0
        self.app: faust.App | None = None
        # At most one batch waits while another is processed and a third is being read.
        self.batches: asyncio.Queue[tuple[int, Any, list[Any]]] = asyncio.Queue(maxsize=1)
        self.generation = 0
        self.processing = False
        quiet_s = max(_DELIVERY_QUIET_S, 10 * settings.monitor_batch_max_wait_ms / 1000)
        self.delivery: DeliveryWatch[TP] = DeliveryWatch(quiet_s)

    def _clock_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    @property
    def ready(self) -> bool:
        """Running, and its tables recovered at least once."""
        return self.started and self.failed is None and not self.stop.is_set()

    # ---- start and stop ------------------------------------------------------------------

    async def run(self) -> int:
        """Run until ``stop`` is set (0) or the monitor fails (1)."""
        partitions, replication = await input_topics(self.settings)
        app = create_app(self.settings, partitions=partitions, replication=replication)
        self.app = app
        self.watches = app.Table(
            WATCH_TABLE, default=None, partitions=partitions, on_recover=self._recovered
        )
        self.counts = HourlyCounts(
            app, partitions=partitions, hours=self.settings.monitor_count_hours
        )
        self.watch_changelog = str(self.watches.changelog_topic.get_topic_name())
        source = app.topic(
            self.settings.topic_order_events,
            self.settings.topic_rejected,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        app.agent(source, name="orderstate-monitor.events")(self._agent)
        app.timer(self.settings.monitor_tick_ms / 1000, name="deadlines")(self._on_tick)
        app.timer(self.settings.monitor_parked_check_ms / 1000, on_leader=True, name="parked")(
            self._on_parked_check
        )
        app.timer(_GAUGES_S, name="gauges")(self._on_gauges)
        app.on_partitions_revoked.connect(self._revoked)
        await self.publisher.start(self.settings)
        processor = asyncio.create_task(self._process_batches(), name="monitor-batches")
        try:
            await app.start()
            log.info("monitor_started", group=self.settings.monitor_group, partitions=partitions)
            await self._wait()
        finally:
            # Wait for a batch in flight: its records are acknowledged only once it is done,
            # and faust commits acknowledged offsets as it stops.
            async with self.lock:
                processor.cancel()
                await app.stop()
            await asyncio.gather(processor, return_exceptions=True)
            await self.publisher.stop()
        if self.failed is not None:
            log.error("monitor_failed", error=repr(self.failed))
            return 1
        return 0

    async def _wait(self) -> None:
        assert self.app is not None  # noqa: S101 -- set by run()
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            while not stopping.done():
                if self.app.crashed:
                    self.failed = self.app.crash_reason or RuntimeError("faust app crashed")
                    return
                await asyncio.wait([stopping], timeout=0.5)
        finally:
            stopping.cancel()

    # ---- faust callbacks ------------------------------------------------------------------

    async def _agent(self, stream: Any) -> None:
        # Hand each batch over and gather the next one meanwhile: faust buffers nothing while
        # a take batch is being consumed, and delivering records costs it as much as the
        # monitor spends on them (bench/results.md, "Monitor").
        async for events in stream.noack_take(
            self.settings.monitor_batch_max_events,
            within=self.settings.monitor_batch_max_wait_ms / 1000,
        ):
            now = time.monotonic()
            for event in events:
                self.delivery.got(event.message.tp, event.message.offset, now)
            await self.batches.put((self.generation, stream, events))

    async def _process_batches(self) -> None:
        while True:
            generation, stream, events = await self.batches.get()
            if generation != self.generation:
                continue  # read before a rebalance: the partitions' new owner reads them again
            self.processing = True
            try:
                async with self.lock:
                    done = await self._batch(events)
            except Exception as exc:
                # Never acknowledge past a batch that was not done: faust would commit over
                # it (faust-streaming #606). Stop instead; the restart reads it again.
                log.exception("monitor_batch_failed")
                self.failed = exc
                self.stop.set()
                return
            # Only now, with its output durable, may faust commit the batch's offsets.
            for event in done:
                await stream.ack(event)
            self.processing = False

    async def _revoked(self, _sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        revoked: set[TP] = args[0]
        lost = {tp.partition for tp in revoked if tp.topic == self.settings.topic_order_events}
        if not lost:
            return
        async with self.lock:
            # Batches read before the rebalance are not processed (nor acknowledged).
            self.generation += 1
            while not self.batches.empty():
                self.batches.get_nowait()
            self.assigned -= lost
            self.lost |= lost
            self.time.forget(lost)
            self.due.forget(lost)
            # The memory store forgets only rows it recovered itself; rows this process wrote
            # for a partition that moved elsewhere must go too, or they would go stale here.
            for key in [k for k, row in self.watches.data.items() if row["p"] in lost]:
                self.watches.data.pop(key, None)
            self.counts.forget_partitions(self.assigned)
        for partition in lost:
            # The new owner reports its lag; a series left here would go stale.
            with contextlib.suppress(KeyError):
                metrics.MONITOR_LAG.remove(str(partition))
        log.info("monitor_partitions_revoked", partitions=sorted(lost))

    async def _recovered(self) -> None:
        """The tables hold the assigned partitions' rows again: rebuild what is derived from
        them (the deadline index, each partition's stream time), and reconcile every order
        once, so a changed policy file takes effect at start."""
        assert self.app is not None  # noqa: S101 -- set by run()
        topic = self.settings.topic_order_events
        self.assigned = {
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic
        }
        self.lost -= self.assigned
        self.delivery.assigned(time.monotonic())
        async with self.lock:
            self.due = DueIndex()
            for key in [k for k, row in self.watches.data.items() if row["p"] not in self.assigned]:
                self.watches.data.pop(key, None)
            for row in self.watches.data.values():
                self.time.stream_ms[row["p"]] = max(self.time.stream_ms.get(row["p"], 0), row["t"])
            decisions = self._pass()
            for key in list(self.watches.data.keys()):
                decisions.judge(key, reschedule=True)
            await self._flush(decisions)
            self.counts.forget_partitions(self.assigned)
        self.started = True
        metrics.MONITOR_WATCHED_ORDERS.set(len(self.watches.data))
        log.info(
            "monitor_recovered",
            partitions=sorted(self.assigned),
            orders=len(self.watches.data),
            pending_deadlines=len(self.due),
        )

    async def _on_tick(self) -> None:
        await self._guarded("deadlines", self._tick)

    async def _on_parked_check(self) -> None:
        await self._guarded("parked", self._parked_check)

    async def _on_gauges(self) -> None:
        await self._guarded("gauges", lambda: export_open_alerts(self.pool))

    async def _guarded(self, what: str, job: Callable[[], Awaitable[None]]) -> None:
        """A timer that fails logs and tries again next time; a bug stops the monitor."""
        try:
            await job()
        except _TRANSIENT as exc:
            log.warning("monitor_timer_failed", timer=what, error=repr(exc))
        except Exception as exc:
            log.exception("monitor_timer_failed", timer=what)
            self.failed = exc
            self.stop.set()

    # ---- the work ---------------------------------------------------------------------------

    async def _batch(self, events: list[Any]) -> list[Any]:
        """Process a batch; returns its records to acknowledge (not those of partitions that
        went elsewhere: their new owner reads them)."""
        started = time.perf_counter()
        orders_topic = self.settings.topic_order_events
        decisions = self._pass()
        counted: set[Any] = set()
        tally: Counter[str] = Counter()
        for partition in {e.message.partition for e in events if e.message.topic == orders_topic}:
            self.time.reading(partition)
        done = []
        for event in events:
            message = event.message
            partition = message.partition
            if partition in self.lost:
                tally["elsewhere"] += 1
                continue
            done.append(event)
            if message.topic != orders_topic:
                found = rejection(message.key, message.value, message.headers)
                if found is None:
                    tally["malformed"] += 1
                    continue
                reason = f"rejected:{found.reason}"
                counted.add(self.counts.add(found.shop_id, reason, partition, found.time_ms))
                tally["rejection"] += 1
                continue
            parsed = order_event(
                message.key,
                message.value,
                message.headers,
                record_ms=int(message.timestamp * 1000),
            )
            self.time.saw(partition, message.offset, parsed.occurred_ms if parsed else None)
            # Time moved to this event's: the deadlines it passed passed before it happened.
            decisions.judge_due(partition)
            if parsed is None:
                tally["malformed"] += 1
                log.warning("monitor_unreadable_record", partition=partition, offset=message.offset)
                continue
            row = decisions.row(parsed.key)
            new_row, outcome, gap = fold(row, parsed, partition)
            tally[outcome] += 1
            if new_row is not None:
                if gap:
                    self._gap(parsed, row)
                decisions.put(parsed.key, new_row)
                decisions.judge(parsed.key)
                for count in counted_as(parsed):
                    shop = parsed.shop_id
                    counted.add(self.counts.add(shop, count, partition, parsed.occurred_ms))
        await self._flush(decisions, self.counts.changelog(counted))
        for outcome, n in tally.items():
            metrics.MONITOR_EVENTS.labels(outcome).inc(n)
        metrics.MONITOR_BATCH_DURATION.observe(time.perf_counter() - started)
        return done

    def _gap(self, parsed: OrderEvent, row: Row | None) -> None:
        metrics.MONITOR_SEQUENCE_GAPS.inc()
        log.warning(
            "monitor_sequence_gap",
            shop_id=parsed.shop_id,
            order_id=parsed.order_id,
            event_id=parsed.event_id,
            after=row["s"] if row else None,
            sequence=parsed.sequence,
        )

    def _pass(self) -> Pass:
        return Pass(
            table=self.watches.data,
            due=self.due,
            time=self.time,
            policies=self.policies,
            alerts_topic=self.settings.topic_alerts,
        )

    async def _tick(self) -> None:
        assert self.app is not None  # noqa: S101 -- set by run()
        consumer = self.app.consumer
        topic = self.settings.topic_order_events
        for partition in sorted(self.assigned):
            tp = TP(topic, partition)
            # aiokafka knows a partition's end only after a fetch from it.
            highwater: int | None = consumer.highwater(tp)
            position = None
            if partition not in self.time.next_offset:
                position = await consumer.position(tp)
            self.time.update(partition, highwater=highwater, position=position)
            processed = self.time.next_offset.get(partition, position)
            if highwater is not None and processed is not None:
                metrics.MONITOR_LAG.labels(str(partition)).set(max(highwater - processed, 0))
        async with self.lock:
            decisions = self._pass()
            for partition in sorted(self.assigned):
                decisions.judge_due(partition)
            await self._flush(decisions)
        if hasattr(self, "counts"):
            export_counts(self.counts, self.time.latest())
        await self._redeliver_skipped()

    async def _redeliver_skipped(self) -> None:
        """Seek back the input partitions faust read past records it never handed to the
        agent (``delivery.py``)."""
        assert self.app is not None  # noqa: S101 -- set by run()
        if self.processing or not self.batches.empty():
            return
        if not self.delivery.quiet(time.monotonic()):
            return
        consumer = self.app.consumer
        inputs = {self.settings.topic_order_events, self.settings.topic_rejected}
        tps = [tp for tp in consumer.assignment() if tp.topic in inputs]
        positions = {tp: await consumer.position(tp) for tp in tps}
        unknown = self.delivery.without_start(positions)
        if unknown:
            self.delivery.committed.update(await self._committed(unknown))
        behind = self.delivery.skipped(positions)
        if not behind:
            return
        for tp, offset in behind.items():
            await consumer.seek(tp, offset)
        # Wait a quiet period again before the next comparison: the records are on their way.
        self.delivery.assigned(time.monotonic())
        log.warning(
            "monitor_records_read_again",
            partitions={f"{tp.topic}[{tp.partition}]": o for tp, o in behind.items()},
            reason="faust read past records its stream did not deliver",
        )

    async def _committed(self, tps: list[TP]) -> dict[TP, int | None]:
        """The group's committed offsets; the partition's first offset where there is none
        (the monitor starts from the earliest record)."""
        assert self.app is not None  # noqa: S101 -- set by run()
        admin = AIOKafkaAdminClient(**kafka_options(self.settings, role="monitor-admin"))
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(
                self.settings.monitor_group, partitions=tps
            )
        finally:
            await admin.close()
        offsets: dict[TP, int | None] = {}
        for tp in tps:
            meta = found.get(tp)
            offsets[tp] = meta.offset if meta is not None and meta.offset >= 0 else None
        missing = [tp for tp, o in offsets.items() if o is None]
        if missing:
            offsets.update(await self.app.consumer.earliest_offsets(*missing))
        return offsets

    async def _flush(self, decisions: Pass, extra: list[Outgoing] | None = None) -> None:
        """Make a pass durable: its alert events, the changelog records of the rows it changed
        and ``extra`` records on Kafka, its alerts in PostgreSQL; then keep its rows."""
        changed = decisions.changed_rows()
        records = [
            *decisions.alerts,
            *(changelog_record(self.watch_changelog, k, r, r["p"]) for k, r in changed.items()),
            *(extra or []),
        ]
        await self._durably(self.publisher.send, records)
        await self._durably(write_alerts, self.pool, decisions.stored)
        self.watches.data.update(changed)
        _count_alerts(decisions.stored)
        metrics.MONITOR_WATCHED_ORDERS.set(len(self.watches.data))

    async def _durably(self, send: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Retry what failed for want of Kafka or PostgreSQL, until it works or the monitor
        stops (then the batch stays unacknowledged and is read again after the restart)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            before_sleep=lambda state: log.warning(
                "monitor_output_retrying",
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        ):
            with attempt:
                if self.stop.is_set() and attempt.retry_state.attempt_number > 1:
                    raise asyncio.CancelledError
                return await send(*args)
        raise AssertionError("unreachable")

    async def _parked_check(self) -> None:
        now = self._clock_ms()
        parked = await parked_orders(self.pool)
        opened = await open_parked_alerts(self.pool)
        outgoing: list[Outgoing] = []
        stored: list[AlertRow] = []
        async with self.lock:
            for shop_id, order_id, change in parked_changes(parked, opened, self.policies, now):
                event, alert = alert_output(
                    change,
                    shop_id=shop_id,
                    order_id=order_id,
                    row=None,
                    now_ms=now,
                    topic=self.settings.topic_alerts,
                )
                outgoing.append(event)
                stored.append(alert)
            await self._durably(self.publisher.send, outgoing)
            await self._durably(write_alerts, self.pool, stored)
        _count_alerts(stored)
        if time.monotonic() - self._last_retention >= _RETENTION_EVERY_S:
            days = timedelta(days=self.settings.alert_retention_days)
            deleted = await delete_cleared_alerts(self.pool, self.clock() - days)
            self._last_retention = time.monotonic()
            if deleted:
                log.info("cleared_alerts_deleted", rows=deleted)


def _count_alerts(rows: list[AlertRow]) -> None:
    for row in rows:
        kind = "raised" if row.cleared_at_ms is None else "cleared"
        metrics.MONITOR_ALERTS.labels(row.rule, kind).inc()
