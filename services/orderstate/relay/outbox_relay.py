"""The outbox relay: committed outbox rows to Kafka, in commit order per order.

Rows are grouped in lanes by key hash. A relay publishes a lane only while it
holds that lane's transaction-scoped advisory lock; in one transaction it
claims every lane no other relay holds, takes their rows in lane and id order
with ``FOR UPDATE SKIP LOCKED``, waits once for the broker's acknowledgement of
every row, and only then marks them sent. So with any
number of relays, one order's events reach Kafka in the order they were
committed; a relay that dies between produce and mark causes a re-send with
the same CloudEvents ids, never a loss.
"""

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pydantic_core
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from orderstate import metrics
from orderstate.events.envelope import binary_from_data
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import kafka_options
from orderstate.projector.connection import DATABASE_DOWN, Conn
from orderstate.runtime import start_kafka_client
from orderstate.settings import Settings

__all__ = ["Relay"]

log = structlog.get_logger("orderstate.relay")

_LANE_LOCK_CLASS = 0x6F7262  # first key of the two-key advisory lock space: "orb"
_CHANNEL = "orderstate_outbox"
_CLEANUP_INTERVAL_S = 300.0
_FAILURES = (KafkaError, asyncpg.PostgresError, *DATABASE_DOWN)


class Relay:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, stop: asyncio.Event) -> None:
        self.settings = settings
        self.pool = pool
        self.stop = stop
        self.wake = asyncio.Event()
        self.producer: Any = AIOKafkaProducer(
            **kafka_options(settings, role="relay"),
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
        )
        self._listener: asyncpg.Connection | None = None

    async def run(self) -> int:
        await start_kafka_client(self.producer, self.settings, "relay")
        log.info("relay_started")
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
                    delay = min(0.2 * 2**failures, 10.0) * random.uniform(0.5, 1.0)  # noqa: S311 -- jitter
                    log.warning("relay_publish_failed", error=repr(exc), retry_in_s=round(delay, 2))
                    await self._sleep(delay)
                    continue
                if time.monotonic() >= next_cleanup:
                    await self._cleanup()
                    next_cleanup = time.monotonic() + _CLEANUP_INTERVAL_S
                await self._wait_for_work()
        finally:
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
            if sent < self.settings.relay_batch_size:
                break
        async with self.pool.acquire() as conn:
            backlog = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        metrics.OUTBOX_BACKLOG.set(backlog)
        return total

    async def _publish_round(self) -> int:
        """One transaction: claim every lane no other relay holds, send their oldest rows in
        lane and id order, wait once for all acknowledgements, mark the rows sent."""
        async with self.pool.acquire() as conn, conn.transaction():
            lanes = [
                r["lane"]
                for r in await conn.fetch(
                    "WITH pending AS MATERIALIZED ("
                    "  SELECT DISTINCT lane FROM outbox WHERE sent_at IS NULL) "
                    "SELECT lane FROM pending WHERE pg_try_advisory_xact_lock($1, lane)",
                    _LANE_LOCK_CLASS,
                )
            ]
            if not lanes:
                return 0
            rows = await conn.fetch(
                "SELECT id, topic_role, event, created_at FROM outbox "
                "WHERE lane = ANY($1::smallint[]) AND sent_at IS NULL "
                "ORDER BY lane, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                lanes,
                self.settings.relay_batch_size,
            )
            if not rows:
                return 0
            pending = []
            for row in rows:
                # Written by the projector from validated values; parsed, not re-validated.
                event = pydantic_core.from_json(row["event"])
                headers, value = binary_from_data(event)
                pending.append(
                    await self.producer.send(
                        self.settings.topic_name(TopicRole(row["topic_role"])),
                        value=value,
                        key=f"{event['shopid']}:{event['orderid']}".encode(),
                        headers=headers,
                    )
                )
            await asyncio.gather(*pending)
            acked = datetime.now(UTC)
            await self._mark_sent(conn, [r["id"] for r in rows], acked)
        for role, count in Counter(r["topic_role"] for r in rows).items():
            metrics.RELAY_PUBLISHED.labels(role).inc(count)
        for row in rows:
            metrics.RELAY_PUBLISH_LATENCY.observe((acked - row["created_at"]).total_seconds())
        return len(rows)

    async def _mark_sent(self, conn: Conn, ids: list[int], acked: datetime) -> None:
        # Only after every row was acknowledged: a crash before this re-sends, never loses.
        await conn.execute(
            "UPDATE outbox SET sent_at = $2 WHERE id = ANY($1::bigint[])", ids, acked
        )

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
        cutoff = datetime.now(UTC) - timedelta(hours=self.settings.outbox_retention_hours)
        try:
            async with self.pool.acquire() as conn:
                status = await conn.execute(
                    "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1", cutoff
                )
        except _FAILURES as exc:
            log.warning("outbox_cleanup_failed", error=repr(exc))
            return
        log.info("outbox_cleanup", deleted=int(status.split()[-1]))
