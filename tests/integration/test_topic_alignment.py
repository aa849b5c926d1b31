"""Two inbound topics read side by side: where they disagree about the order of an order's
events, event time decides, whichever record a worker happens to fetch first."""

import asyncio
from datetime import timedelta

import asyncpg
from aiokafka import AIOKafkaProducer

from orderstate.settings import Settings
from tests.support.events import T0, event, record
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


def _minutes(ms: int) -> float:
    """The tests' event helpers count minutes after T0."""
    return ms / 60_000


async def test_shipments_do_not_overtake_their_orders_on_a_backlog(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    # Small batches, so the two topics meet across many batches, not inside one.
    settings: Settings = settings_for(kafka_bootstrap, database_url, topics, batch_max_events=40)
    order_records = []
    shipment_records = []
    for n in range(120):
        order = f"A-{n:03d}"
        at = n * 100
        order_records.append(
            (
                _BASE_MS + at,
                record(event("order.created", _created(), order=order, minutes=_minutes(at))),
            )
        )
        paid_at = at + 10
        paid = {"state": "paid", "occurred_at": _iso(paid_at)}
        order_records.append(
            (
                _BASE_MS + paid_at,
                record(event("order.state_changed", paid, order=order, minutes=_minutes(paid_at))),
            )
        )
        # Each parcel ships two seconds after its order was placed and paid.
        ship_at = at + 2_000
        parcel = {"shipment_id": f"S-{n}", "direction": "outbound"}
        shipment_records.append(
            (
                _BASE_MS + ship_at,
                record(event("shipment.created", parcel, order=order, minutes=_minutes(ship_at))),
            )
        )
    # The warehouse's topic is written first and is far smaller: read flat out, it would be
    # consumed long before the orders it refers to.
    await _produce_at(kafka_bootstrap, topics.shipments, shipment_records)
    await _produce_at(kafka_bootstrap, topics.orders, order_records)

    async with running(settings, relays=0):
        await wait_for(lambda: _count(database_url, "processed_events", 360), timeout_s=60)

    assert await _count(database_url, "orders WHERE state = 'shipped'", None) == 120
    conn = await asyncpg.connect(database_url)
    try:
        outcomes = {
            r["outcome"]: r["count"]
            for r in await conn.fetch(
                "SELECT outcome, count(*) FROM processed_events GROUP BY outcome"
            )
        }
        late = await conn.fetchval("SELECT count(*) FROM order_state_history WHERE late")
    finally:
        await conn.close()
    assert outcomes == {"applied": 360}
    assert late == 0


async def test_event_time_decides_between_a_shipment_and_a_later_cancel(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """The warehouse shipped at 09:00, the shop cancelled at 10:00, and the shipment record
    reached Kafka after the cancel: shipped, cancel refused."""
    settings: Settings = settings_for(kafka_bootstrap, database_url, topics)
    hour = 60
    created = event("order.created", _created(), order="C-1", minutes=0)
    cancel = event(
        "order.state_changed",
        {"state": "cancelled", "occurred_at": _iso(2 * hour * 60_000)},
        order="C-1",
        minutes=2 * hour,
    )
    parcel = event(
        "shipment.created",
        {"shipment_id": "S-1", "direction": "outbound"},
        order="C-1",
        minutes=hour,
    )
    await _produce_at(kafka_bootstrap, topics.orders, [(_BASE_MS, record(created))])
    await _produce_at(kafka_bootstrap, topics.orders, [(_BASE_MS + 10, record(cancel))])
    await _produce_at(kafka_bootstrap, topics.shipments, [(_BASE_MS + 20, record(parcel))])

    async with running(settings, relays=0):
        await wait_for(lambda: _count(database_url, "processed_events", 3), timeout_s=60)

    conn = await asyncpg.connect(database_url)
    try:
        state = await conn.fetchval("SELECT state FROM orders WHERE order_id = 'C-1'")
        reasons = [r["reason"] for r in await conn.fetch("SELECT reason FROM rejected_events")]
    finally:
        await conn.close()
    assert state == "shipped"
    assert reasons == ["cancel_after_shipment"]


def _created() -> dict[str, object]:
    return {
        "order_date": "2026-03-02T09:00:00Z",
        "items": [{"item_id": "l1", "sku": "SKU-1", "quantity": 1}],
    }


def _iso(ms_after_t0: int) -> str:
    return (T0 + timedelta(milliseconds=ms_after_t0)).isoformat()


async def _count(url: str, table: str, expected: int | None = -1) -> int | bool:
    conn = await asyncpg.connect(url)
    try:
        got = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()
    return got if expected is None else got == expected
