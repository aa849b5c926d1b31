"""The outbox relay: committed outbox rows to Kafka, in commit order per order.

Rows are grouped in lanes by key hash. A relay publishes a lane only while it holds that
lane's transaction-scoped advisory lock. One round is one transaction: it finds the lanes
that have rows (a walk down the index, not a scan of the backlog), claims those no other
relay holds, takes a share of each lane's oldest rows with ``FOR UPDATE SKIP LOCKED``,
publishes them, and marks them sent after the broker acknowledged them. A relay that dies
between produce and mark causes a re-send with the same CloudEvents ids, never a loss.

An order's rows are sent in waves: the rows of an order in one wave go in one record batch,
which the broker appends whole or not at all, and its next rows only after the broker
acknowledged that batch. So a failure (a broker that goes away mid-round, a record the broker
refuses) can never put an order's later event on the wire ahead of an earlier one, and the
acknowledged rows of a failed round are still marked sent. A row the broker refuses for what
it is (over the message size) is set aside as dead-lettered, with the reason; the later rows
of its order wait behind it until an operator retries or skips it (``orderstate outbox``),
while every other order goes on.
"""

import asyncio
import random
import time
from collections import Counter, defaultdict, deque
from datetime import UTC, datetime
from typing import Any, NamedTuple

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnknownProducerId,
)

from orderstate import metrics
from orderstate.events.envelope import binary_from_stored
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import expected_partition, kafka_options
from orderstate.projector.connection import DATABASE_DOWN, Conn
from orderstate.projector.queries import query
from orderstate.projector.retention import clean_up
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client

__all__ = ["LogRowMissing", "Relay"]

log = structlog.get_logger("orderstate.relay")

_LANE_LOCK_CLASS = 0x6F7262  # first key of the two-key advisory lock space: "orb"
_CHANNEL = "orderstate_outbox"
_CLEANUP_INTERVAL_S = 300.0
_BACKLOG_INTERVAL_S = 5.0
_FAILURES = (KafkaError, asyncpg.PostgresError, *DATABASE_DOWN)
# The topics outbox rows go to: order events and rejections, and the inbound topics for the
# REST API's writes (their log rows).
_PUBLISHED = (
    TopicRole.ORDER_EVENTS_OUT,
    TopicRole.REJECTED_OUT,
    TopicRole.ORDERS_IN,
    TopicRole.SHIPMENTS_IN,
)
_MESSAGE_LIMIT = "max.message.bytes"
# The broker (or the client's own size check) refuses the record itself: sending it again
# cannot help, and it must not hold back other orders.
_REFUSED_RECORD = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)
# After these, aiokafka's idempotent producer cannot go on (its sequence numbers no longer
# match the broker's, and it has no epoch bump as the Java client has): a new one is made.
_PRODUCER_BROKEN = (
    *_REFUSED_RECORD,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    ProducerClosed,
    UnknownProducerId,
)


class _Row(NamedTuple):
    # A tuple rather than a dataclass: one is made per row, in a third of the time.
    id: int
    topic_role: str
    key: tuple[str, str]
    # None: the row is stored by reference and its order event log row is missing.
    event: str | None
    created_at: datetime


class LogRowMissing(Exception):
    """An outbox row stored by reference whose order event log row is not there. orderstate
    writes both in one transaction and deletes neither before the row is sent, so only a hand
    edit of the database gets here: the row is set aside like a refused one, not retried."""


class _RoundFailed(Exception):
    """Some rows could not be published; those acknowledged before are marked sent."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class _Filling:
    """A record batch being filled for one partition, and which of the rows it holds."""

    def __init__(self, target: tuple[str, int], builder: Any) -> None:
        self.topic, self.partition = target
        self.builder = builder
        self.rows: list[int] = []

    def add(self, index: int, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> bool:
        """False when the batch is full (its first record always fits)."""
        if self.builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            return False
        self.rows.append(index)
        return True

    async def send(self, producer: Any) -> "asyncio.Future[Any]":
        # Closed, it goes out at once instead of lingering (linger_ms) for records that the
        # relay, waiting for this wave's acknowledgements, would never add.
        self.builder.close()
        future: asyncio.Future[Any] = await producer.send_batch(
            self.builder, self.topic, partition=self.partition
        )
        return future


class _Wave:
    """The record batches of one wave. The relay fills them itself, one per partition (more
    when one is full), in the partition Kafka's default partitioner gives the key: per record
    that costs half of what aiokafka's ``send`` does (bench/relay-drain-results.md). A batch
    the broker refuses fails all of its rows."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.outcomes: list[tuple[_Row, BaseException | None]] = []
        self.filling: dict[tuple[str, int], _Filling] = {}
        self.full: list[_Filling] = []
        self.partitions: dict[str, int] = {}

    def target(self, topic: str, key: bytes) -> tuple[str, int] | None:
        """The key's partition; None until the wave knows the topic's partition count
        (``first_target``). Not a coroutine: it is called for every row."""
        count = self.partitions.get(topic)
        return None if count is None else (topic, expected_partition(key, count))

    async def first_target(self, topic: str, key: bytes) -> tuple[str, int]:
        count = self.partitions[topic] = len(await self.producer.partitions_for(topic))
        return topic, expected_partition(key, count)

    def add_first(
        self,
        target: tuple[str, int],
        index: int,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
    ) -> _Filling:
        """Add a group's first row, to a new batch if the partition's is full; the batch."""
        batch = self.filling.get(target)
        if batch is None or not batch.add(index, key, value, headers):
            if batch is not None:
                self.full.append(batch)
            batch = self.filling[target] = _Filling(target, self.producer.create_batch())
            batch.add(index, key, value, headers)
        return batch

    async def send(self) -> list[tuple[_Row, BaseException | None]]:
        sending: list[tuple[_Filling, asyncio.Future[Any]]] = []
        for batch in [*self.full, *self.filling.values()]:
            try:
                sending.append((batch, await batch.send(self.producer)))
            except KafkaError as exc:  # the producer is closed, or its queue stayed full
                self._fail(batch, exc)
        settled = await asyncio.gather(*(f for _, f in sending), return_exceptions=True)
        for (batch, _), outcome in zip(sending, settled, strict=True):
            if isinstance(outcome, BaseException):
                self._fail(batch, outcome)
        return self.outcomes

    def _fail(self, batch: _Filling, error: BaseException) -> None:
        for index in batch.rows:
            self.outcomes[index] = (self.outcomes[index][0], error)


class Relay:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, stop: asyncio.Event) -> None:
        self.settings = settings
        self.pool = pool
        self.stop = stop
        self.wake = asyncio.Event()
        self.batch_bytes = settings.relay_batch_bytes
        # Outbox rows name their topic by role; looked up here, not once per row.
        self._topics = {role.value: settings.topic_name(role) for role in TopicRole}
        self.producer: Any = None
        self._listener: asyncpg.Connection | None = None
        self._next_backlog = 0.0

    async def _start_producer(self) -> None:
        # aiokafka's own default batch is 16 KiB, about ten of our events: its per-batch work
        # then costs about as much as the records (bench/relay-drain-results.md).
        self.batch_bytes = await self._fitting_batch_bytes()
        self.producer = AIOKafkaProducer(
            **kafka_options(self.settings, role="relay"),
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=self.batch_bytes,
        )
        await start_kafka_client(self.producer, self.settings, "relay")

    async def _fitting_batch_bytes(self) -> int:
        """ORDERSTATE_RELAY_BATCH_BYTES, or less: the broker refuses a whole batch larger than
        the topic's max.message.bytes even when each record in it would fit."""
        names = sorted({self.settings.topic_name(role) for role in _PUBLISHED})
        admin = AIOKafkaAdminClient(**kafka_options(self.settings, role="relay"))
        limits: dict[str, int] = {}
        failure = None
        try:
            await start_kafka_client(admin, self.settings, "relay")
            wanted = {_MESSAGE_LIMIT: None}
            resources = [ConfigResource(ConfigResourceType.TOPIC, n, wanted) for n in names]
            for response in await admin.describe_configs(resources):
                # (error code, message, type, name, entries); an entry is (name, value, ...).
                for error, message, _, name, entries in response.resources:
                    if error:
                        failure = failure or f"{name}: error {error} {message or ''}".strip()
                    else:
                        limits.update((name, int(e[1])) for e in entries if e[0] == _MESSAGE_LIMIT)
        except KafkaError as exc:
            failure = repr(exc)
        finally:
            await admin.close()
        unknown = [n for n in names if n not in limits]
        if unknown:
            # A batch the broker refuses as too large is sent again row by row: slower, never
            # lost. The warning says why (e.g. no DescribeConfigs permission on the topics).
            log.warning(
                "relay_topic_limits_unknown",
                topics=unknown,
                error=failure,
                batch_bytes=self.settings.relay_batch_bytes,
            )
        # The broker counts the batch's header and log overhead in the limit as well.
        fitting = min([self.settings.relay_batch_bytes, *(v - 1024 for v in limits.values())])
        return max(fitting, 1024)

    async def _replace_producer(self, why: BaseException) -> None:
        log.warning("relay_producer_replaced", reason=repr(why))
        try:
            await self.producer.stop()
        except KafkaError as exc:  # its sender is dead already
            log.info("relay_producer_stop_failed", error=repr(exc))
        # A refusal may come from a topic limit lowered since: the batch size is fitted again.
        await self._start_producer()

    async def run(self) -> int:
        await self._start_producer()
        log.info("relay_started", batch_bytes=self.batch_bytes)
        next_cleanup = time.monotonic()
        failures = 0
        try:
            while not self.stop.is_set():
                await self._ensure_listening()
                try:
                    await self.drain()
                    failures = 0
                except _FAILURES as exc:
                    failures += 1
                    if isinstance(exc, _PRODUCER_BROKEN):
                        await self._replace_producer(exc)
                    delay = min(0.2 * 2**failures, 10.0) * random.uniform(0.5, 1.0)  # noqa: S311 -- jitter
                    log.warning("relay_publish_failed", error=repr(exc), retry_in_s=round(delay, 2))
                    await self._sleep(delay)
                    continue
                if time.monotonic() >= next_cleanup:
                    await self._cleanup()
                    next_cleanup = time.monotonic() + _CLEANUP_INTERVAL_S
                await self._wait_for_work()
        finally:
            if self.producer is not None:
                await self.producer.stop()
            if self._listener is not None and not self._listener.is_closed():
                await self._listener.close()
            log.info("relay_stopped")
        return 0

    async def drain(self) -> int:
        """Publish everything unsent that this relay can claim; return the count."""
        total = 0
        while not self.stop.is_set():
            sent = await self._publish_round()
            total += sent
            if sent == 0:
                break
        await self._report_backlog()
        return total

    async def _publish_round(self) -> int:
        """One transaction: claim the free lanes that have rows, send a share of each lane's
        oldest rows in waves, mark what the broker acknowledged as sent."""
        async with self.pool.acquire() as conn, conn.transaction():
            lanes = [
                r["lane"] for r in await conn.fetch(query("relay_claim_lanes"), _LANE_LOCK_CLASS)
            ]
            if not lanes:
                return 0
            share = max(1, self.settings.relay_batch_size // len(lanes))
            rows = [
                _Row(
                    r["id"],
                    r["topic_role"],
                    (r["shop_id"], r["order_id"]),
                    r["event"],
                    r["created_at"],
                )
                for r in await conn.fetch(query("relay_take_rows"), lanes, share)
            ]
            if not rows:
                return 0
            sent, dead, failure = await self._send_in_waves(rows)
            acked = datetime.now(UTC)
            if sent:
                await self._mark_sent(conn, [r.id for r in sent], acked)
            if dead:
                await conn.execute(
                    query("relay_mark_dead"),
                    [r.id for r, _ in dead],
                    [reason for _, reason in dead],
                    acked,
                )
        for row, reason in dead:
            log.error(
                "outbox_row_dead_lettered",
                outbox_id=row.id,
                shop_id=row.key[0],
                order_id=row.key[1],
                topic_role=row.topic_role,
                reason=reason,
            )
        for role, count in Counter(r.topic_role for r in sent).items():
            metrics.RELAY_PUBLISHED.labels(role).inc(count)
        for row in sent:
            metrics.RELAY_PUBLISH_LATENCY.observe((acked - row.created_at).total_seconds())
        if dead:
            self._next_backlog = 0.0
        if failure is not None:
            raise failure.cause
        return len(sent) + len(dead)

    async def _send_in_waves(
        self, rows: list[_Row]
    ) -> tuple[list[_Row], list[tuple[_Row, str]], _RoundFailed | None]:
        """Each wave holds the next rows of every order in the round: as many of an order's
        rows as go in one record batch (the same topic and partition, and room in the batch),
        and at least one. A batch is appended to its partition whole or not at all, so an
        order's later row can never be on the wire without the rows before it. Returns the
        rows the broker acknowledged, the rows it refused for what they are, and the failure
        that ended the round early, if any."""
        queues: dict[tuple[str, str], deque[_Row]] = defaultdict(deque)
        for row in rows:
            queues[row.key].append(row)
        sent: list[_Row] = []
        dead: list[tuple[_Row, str]] = []
        blocked: set[tuple[str, str]] = set()
        while groups := [q for key, q in queues.items() if q and key not in blocked]:
            outcomes = await self._send(groups)
            alone = await self._settle_refusals(outcomes)
            failure: _RoundFailed | None = None
            for row, first in outcomes:
                if row.key in blocked:
                    # Behind a row of its order that failed in this wave: it stays unsent.
                    continue
                error = alone.get(row.id, first)
                if error is None:
                    sent.append(row)
                    queues[row.key].popleft()
                elif _refused(error) or isinstance(error, LogRowMissing):
                    dead.append((row, f"{type(error).__name__}: {error}"[:1000]))
                    blocked.add(row.key)
                else:
                    blocked.add(row.key)
                    failure = failure or _RoundFailed(error)
            if failure is not None:
                return sent, dead, failure
        return sent, dead, None

    async def _settle_refusals(
        self, outcomes: list[tuple[_Row, BaseException | None]]
    ) -> dict[int, BaseException | None]:
        """A refusal fails its whole batch: the rows of a refused batch are sent again one by
        one, in order, to find those refused for themselves. An order stops at its first row
        that fails alone, so none of its later rows goes out ahead of it. The producer is
        replaced after each refusal only, not before each row: a batch holds up to a few
        hundred rows, and a replacement costs a reconnect. Returns each re-sent row's own
        outcome; the rows left behind a failure keep the batch's refusal."""
        refused = [(row, error) for row, error in outcomes if _refused(error)]
        alone: dict[int, BaseException | None] = {}
        if not refused:
            return alone
        broken: BaseException | None = refused[0][1]
        stopped: set[tuple[str, str]] = set()
        for row, _ in refused:
            if row.key in stopped:
                continue
            if broken is not None:
                await self._replace_producer(broken)
            alone[row.id] = error = (await self._send([deque([row])]))[0][1]
            broken = error if _refused(error) else None
            if error is not None:
                stopped.add(row.key)
        if broken is not None:
            await self._replace_producer(broken)
        return alone

    async def _send(self, groups: list[deque[_Row]]) -> list[tuple[_Row, BaseException | None]]:
        """Send the first rows of each group (an order's unsent rows, oldest first) and wait
        for every one to settle, so nothing is in flight when a wave ends, whatever failed.
        A group's rows go in one record batch: from its first row, as long as they go to the
        same partition and fit; the rest wait for the next wave. Returns each row put on the
        wire (or that could not be) with its outcome."""
        wave = _Wave(self.producer)
        for group in groups:
            batch: _Filling | None = None
            for row in group:
                if row.event is None:
                    if batch is None:  # first in its group: it fails; the rest wait behind it
                        wave.outcomes.append((row, LogRowMissing(_missing(row))))
                    break
                # Written by the projector from validated values: sent as written, not
                # re-validated.
                headers, value = binary_from_stored(row.event)
                key = f"{row.key[0]}:{row.key[1]}".encode()
                topic = self._topics[row.topic_role]
                target = wave.target(topic, key)
                if target is None:
                    try:
                        target = await wave.first_target(topic, key)
                    except KafkaError as exc:  # e.g. the topic does not exist
                        if batch is None:
                            wave.outcomes.append((row, exc))
                        break
                index = len(wave.outcomes)
                if batch is None:
                    batch = wave.add_first(target, index, key, value, headers)
                elif (batch.topic, batch.partition) != target or not batch.add(
                    index, key, value, headers
                ):
                    break
                wave.outcomes.append((row, None))
        return await wave.send()

    async def _mark_sent(self, conn: Conn, ids: list[int], acked: datetime) -> None:
        # Only rows the broker acknowledged: a crash before this re-sends, never loses.
        await conn.execute(query("relay_mark_sent"), ids, acked)

    async def _report_backlog(self) -> None:
        """Count the backlog now and then, not every round: counting is a scan of the index,
        which on a large backlog would cost more than the rounds themselves."""
        if time.monotonic() < self._next_backlog:
            return
        self._next_backlog = time.monotonic() + _BACKLOG_INTERVAL_S
        async with self.pool.acquire() as conn:
            counts = await conn.fetchrow(query("relay_backlog"))
        if counts is not None:
            metrics.OUTBOX_BACKLOG.set(counts["backlog"])
            metrics.OUTBOX_DEAD_LETTERS.set(counts["dead"])

    async def _ensure_listening(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.settings.database_url.get_secret_value())
            await self._listener.add_listener(_CHANNEL, lambda *_: self.wake.set())
        except _FAILURES as exc:
            # Polling still finds the rows; the next round tries to listen again.
            self._listener = None
            log.warning("relay_listen_failed", error=repr(exc))

    async def _wait_for_work(self) -> None:
        await self._sleep(self.settings.relay_poll_interval_ms / 1000, wake=self.wake)
        self.wake.clear()

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        waiters = [asyncio.ensure_future(self.stop.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        _, still = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in still:
            waiter.cancel()

    async def _cleanup(self) -> None:
        try:
            async with self.pool.acquire() as conn:
                await clean_up(conn, self.settings, stop=self.stop)
        except _FAILURES as exc:
            log.warning("retention_cleanup_failed", error=repr(exc))


def _refused(error: BaseException | None) -> bool:
    return isinstance(error, _REFUSED_RECORD)


def _missing(row: _Row) -> str:
    return (
        f"outbox row {row.id} is stored by reference, and its order event log row "
        f"(order_events of {row.key[0]}:{row.key[1]}) is missing"
    )
