"""Run the real worker and relay in the test's event loop, and read what they publish."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from orderstate.domain import PolicyBook
from orderstate.relay.outbox_relay import Relay
from orderstate.settings import Settings
from orderstate.worker.loop import Worker
from orderstate.worker.records import MARKER_HEADER, TICK_HEADER
from tests.support.kafka import TopicNames


def settings_for(kafka: str, database_url: str, topics: TopicNames, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "topic_orders": topics.orders,
        "topic_shipments": topics.shipments,
        "topic_order_events": topics.order_events,
        "topic_rejected": topics.rejected,
        "topic_alerts": topics.alerts,
        "consumer_group": f"{topics.orders}.group",
        "monitor_group": f"{topics.orders}.monitor",
        "batch_max_wait_ms": 20,
        "relay_poll_interval_ms": 200,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Running:
    settings: Settings
    pool: asyncpg.Pool
    stop: asyncio.Event
    tasks: list[asyncio.Task[int]]
    workers: list[Worker]


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    *,
    workers: int = 1,
    relays: int = 1,
    relay_class: type[Relay] = Relay,
    policies: PolicyBook | None = None,
) -> AsyncIterator[Running]:
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=8
    )
    stop = asyncio.Event()
    worker_parts = [
        Worker(settings, policies or PolicyBook(), pool, stop=stop, watchdog_timeout_s=60)
        for _ in range(workers)
    ]
    parts: list[Any] = [*worker_parts]
    parts += [relay_class(settings, pool, stop=stop) for _ in range(relays)]
    tasks = [asyncio.create_task(p.run()) for p in parts]
    try:
        yield Running(settings, pool, stop, tasks, worker_parts)
    finally:
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]


async def produce(
    kafka: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]]]],
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=key, value=value, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Published:
    key: str
    headers: dict[str, str]
    data: dict[str, Any]
    partition: int
    offset: int

    @property
    def type(self) -> str:
        return self.headers["ce_type"]

    @property
    def id(self) -> str:
        return self.headers["ce_id"]


async def consume_until(
    kafka: str,
    topic: str,
    done: Callable[[list[Published]], bool],
    *,
    timeout_s: float = 60,
) -> list[Published]:
    """Everything on ``topic`` from the start, read until ``done`` says enough."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen: list[Published] = []
    try:
        async with asyncio.timeout(timeout_s):
            while not done(seen):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    seen.extend(
                        Published(
                            key=r.key.decode(),
                            headers={k: v.decode() for k, v in r.headers},
                            data=json.loads(r.value),
                            partition=r.partition,
                            offset=r.offset,
                        )
                        for r in records
                        # The worker's merge markers in the inbound topics carry no event.
                        if not any(name in (MARKER_HEADER, TICK_HEADER) for name, _ in r.headers)
                    )
    finally:
        await consumer.stop()
    return seen


async def wait_for(check: Callable[[], Any], *, timeout_s: float = 60) -> None:
    """Poll an async check until it returns true."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 -- polls another process's effects
            await asyncio.sleep(0.1)


async def relay_started(relay: Relay) -> "asyncio.Task[int]":
    """Run the relay in the background, once it has its producer (it has read its topics'
    limits by then)."""
    task = asyncio.create_task(relay.run())

    async def producing() -> bool:
        return relay.producer is not None

    await wait_for(producing, timeout_s=60)
    return task
