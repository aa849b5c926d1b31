"""Two inbound topics read side by side: a backlog decides as the live stream did."""

import asyncio

import asyncpg
from aiokafka import AIOKafkaProducer

from orderstate.settings import Settings
from tests.support.events import created, record, shipment, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import running, settings_for, wait_for

_BASE_MS = 1_790_000_000_000


async def _produce_at(kafka: str, topic: str, items: list[tuple[int, tuple]]) -> None:  # type: ignore[type-arg]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=k, value=v, headers=h, timestamp_ms=ts)
            for ts, (k, v, h) in items
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def test_shipments_do_not_overtake_their_orders_on_a_backlog(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    # Small batches, so the two topics meet across many batches, not inside one.
    settings: Settings = settings_for(kafka_bootstrap, database_url, topics, batch_max_events=40)
    orders = [f"A-{n:03d}" for n in range(120)]
    order_records = []
    shipment_records = []
    for n, order in enumerate(orders):
        at = _BASE_MS + n * 100
        order_records.append((at, record(created(order=order))))
        order_records.append((at + 10, record(state("paid", order=order))))
        # Each parcel ships two seconds after its order was placed and paid.
        shipment_records.append((at + 2_000, record(shipment(f"S-{n}", order=order))))
    # The warehouse's topic is written first and is far smaller: read flat out, it would be
    # consumed long before the orders it refers to.
    await _produce_at(kafka_bootstrap, topics.shipments, shipment_records)
    await _produce_at(kafka_bootstrap, topics.orders, order_records)

    async with running(settings, relays=0):
        await wait_for(lambda: _count(database_url, "processed_events", 360), timeout_s=60)

    assert await _count(database_url, "orders WHERE state = 'shipped'", None) == 120
    conn = await asyncpg.connect(database_url)
    try:
        outcomes = dict(
            await conn.fetch("SELECT outcome, count(*) FROM processed_events GROUP BY outcome")
        )
        late = await conn.fetchval("SELECT count(*) FROM order_state_history WHERE late")
    finally:
        await conn.close()
    assert outcomes == {"applied": 360}
    assert late == 0


async def _count(url: str, table: str, expected: int | None = -1) -> int | bool:
    conn = await asyncpg.connect(url)
    try:
        got = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()
    return got if expected is None else got == expected
