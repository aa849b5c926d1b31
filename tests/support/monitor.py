"""Driving the order monitor in tests: order events as the relay publishes them, a clock the
test sets, the monitor running in the test's event loop, and what it published."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from orderstate.domain import DEFAULT_POLICY, Accepted, OrderView, PolicyBook, decide
from orderstate.events.decode import decode_event
from orderstate.events.envelope import CloudEvent, encode_binary
from orderstate.events.outbound import outbound_event
from orderstate.events.registry import INBOUND_TYPES
from orderstate.monitor.app import Monitor
from orderstate.settings import Settings
from tests.support.kafka import TopicNames
from tests.support.pipeline import Published, consume_until, settings_for

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


class ManualClock:
    """The monitor's wall clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Order:
    """One order driven through ``decide``: every accepted change becomes the outbound events
    the relay would publish (same snapshot, per-event sequence numbers)."""

    order_id: str
    shop_id: str = "shop-1"
    view: OrderView | None = None
    sequence: int = 0
    events: list[CloudEvent] = field(default_factory=list)

    def change(self, type_name: str, data: dict[str, Any], at: datetime) -> list[Record]:
        inbound = CloudEvent(
            specversion="1.0",
            id=f"in-{uuid.uuid4().hex[:12]}",
            source="https://shop.example.com",
            type=type_name,
            time=at,
            shopid=self.shop_id,
            orderid=self.order_id,
            data=data,
        )
        change = decode_event(inbound, INBOUND_TYPES[type_name].topic).change
        decision = decide(self.view, change, DEFAULT_POLICY, at)
        assert isinstance(decision, Accepted), decision
        self.view = decision.new_view
        records = []
        for fact in decision.emitted:
            self.sequence += 1
            out = outbound_event(
                fact,
                self.view,
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{inbound.id}/{self.sequence}")),
                now=at,
                sequence=self.sequence,
            )
            self.events.append(out)
            headers, value = encode_binary(out)
            records.append((out.key.encode(), value, headers))
        return records

    def create(self, at: datetime, **data: Any) -> list[Record]:
        body = {"order_date": at.isoformat(), **data}
        return self.change("order.created", body, at)

    def to(self, state: str, at: datetime) -> list[Record]:
        return self.change(
            "order.state_changed", {"state": state, "occurred_at": at.isoformat()}, at
        )

    def ship(self, at: datetime, shipment_id: str = "S1") -> list[Record]:
        return self.change(
            "shipment.created", {"shipment_id": shipment_id, "direction": "outbound"}, at
        )


def monitor_settings(
    kafka: str, database_url: str, topics: TopicNames, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "topic_alerts": topics.alerts,
        "monitor_group": f"{topics.orders}.monitor",
        "monitor_batch_max_wait_ms": 50,
        "monitor_tick_ms": 100,
        "monitor_parked_check_ms": 200,
        "kafka_session_timeout_ms": 6000,
        "kafka_heartbeat_interval_ms": 500,
        **overrides,
    }
    return settings_for(kafka, database_url, topics, **values)


@dataclass
class RunningMonitor:
    monitor: Monitor
    task: "asyncio.Task[int]"


@contextlib.asynccontextmanager
async def running_monitor(
    settings: Settings, *, clock: ManualClock, policies: PolicyBook | None = None
) -> AsyncIterator[RunningMonitor]:
    """The monitor in the test's event loop, ready (tables recovered) when this yields."""
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=4
    )
    stop = asyncio.Event()
    monitor = Monitor(settings, policies or PolicyBook(), pool, stop=stop, clock=clock)
    task = asyncio.create_task(monitor.run())
    try:
        async with asyncio.timeout(60):
            while not monitor.ready:
                if task.done():
                    await task
                    raise AssertionError("the monitor stopped during start-up")
                await asyncio.sleep(0.05)
        yield RunningMonitor(monitor, task)
    finally:
        stop.set()
        code = await task
        await pool.close()
        assert code == 0, f"the monitor exited with {code}"


async def published_count(kafka: str, topic: str) -> int:
    """How many records ``topic`` holds (the sum of its partitions' end offsets)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, f"{topic} has no partitions"
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return sum(ends.values())


async def alerts_until(
    kafka: str, topic: str, count: int, *, timeout_s: float = 30
) -> list[Published]:
    return await consume_until(kafka, topic, lambda seen: len(seen) >= count, timeout_s=timeout_s)


async def open_alerts_in_db(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(
            await conn.fetch(
                "SELECT * FROM order_alerts WHERE cleared_at IS NULL ORDER BY order_id, rule"
            )
        )
    finally:
        await conn.close()


def at(hours: float = 0, *, base: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) -> datetime:
    return base + timedelta(hours=hours)
