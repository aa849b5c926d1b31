"""Same log, same orders: the outcome is a function of what the inbound topics hold.

The same pre-loaded topics (a simulated day: shipments racing their orders, redeliveries,
late and invalid states, malformed records) are projected three times into three
databases: by one worker, by three workers with small batches, and by two workers that are
stopped and started while they work. Every view, history row, rejection, parked event,
processed outcome and outbound event must be equal, wall-clock fields aside.
"""

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from orderstate.domain import PolicyBook
from orderstate.settings import Settings
from orderstate.simulation.generator import SimConfig, generate
from orderstate.worker.loop import Worker
from tests.support import databases
from tests.support.infra import Endpoints
from tests.support.kafka import TopicNames
from tests.support.pipeline import settings_for
from tests.support.projection import caught_up, differences, read_projection

# Event times a day and a half before the records' timestamps: the merge keys are event
# times, not the order in which the records were published.
_SIM = SimConfig(shops=3, orders=700, seed=11, start=datetime.now(UTC) - timedelta(hours=36))


@pytest.fixture
async def three_databases(endpoints: Endpoints, template_database: str) -> AsyncIterator[list[str]]:
    names = [
        await databases.clone_database(endpoints.database_url, template_database) for _ in range(3)
    ]
    yield [databases.with_database(endpoints.database_url, n) for n in names]
    for name in names:
        await databases.drop_database(endpoints.database_url, name)


async def _publish(kafka: str, topics: TopicNames) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=10
    )
    await producer.start()
    count = 0
    try:
        futures = []
        for r in generate(_SIM):
            topic = topics.orders if r.role.value == "orders_in" else topics.shipments
            futures.append(await producer.send(topic, key=r.key, value=r.value, headers=r.headers))
            count += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return count


async def _project(
    settings: Settings, *, workers: int, restarts: bool, kafka: str, topics: TopicNames
) -> None:
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=8
    )
    rng = random.Random(5)
    running: list[tuple[asyncio.Event, asyncio.Task[int]]] = []

    def start() -> None:
        stop = asyncio.Event()
        worker = Worker(settings, PolicyBook(), pool, stop=stop, watchdog_timeout_s=60)
        running.append((stop, asyncio.create_task(worker.run())))

    try:
        for _ in range(workers):
            start()
        url = settings.database_url.get_secret_value()
        async with asyncio.timeout(120):
            while not await caught_up(
                kafka, url, settings.consumer_group, (topics.orders, topics.shipments)
            ):
                await asyncio.sleep(0.5 if not restarts else rng.uniform(0.3, 1.2))
                if restarts:
                    stop, task = running.pop(rng.randrange(len(running)))
                    stop.set()
                    assert await task == 0
                    start()
    finally:
        for stop, _ in running:
            stop.set()
        codes = await asyncio.gather(*(t for _, t in running), return_exceptions=True)
        await pool.close()
    assert all(code == 0 for code in codes), codes


async def test_one_worker_three_workers_and_restarts_project_the_same_orders(
    kafka_bootstrap: str, topics: TopicNames, three_databases: list[str]
) -> None:
    published = await _publish(kafka_bootstrap, topics)
    runs: list[tuple[str, dict[str, Any]]] = [
        ("one worker, batches of 500", {"workers": 1, "restarts": False, "batch": 500}),
        ("three workers, batches of 7", {"workers": 3, "restarts": False, "batch": 7}),
        ("two workers stopped and started", {"workers": 2, "restarts": True, "batch": 50}),
    ]
    projections = []
    for (name, how), url in zip(runs, three_databases, strict=True):
        settings = settings_for(
            kafka_bootstrap,
            url,
            topics,
            consumer_group=f"{topics.orders}.{how['workers']}.{how['batch']}",
            batch_max_events=how["batch"],
        )
        await _project(
            settings,
            workers=how["workers"],
            restarts=how["restarts"],
            kafka=kafka_bootstrap,
            topics=topics,
        )
        projections.append((name, await read_projection(url)))
    reference_name, reference = projections[0]
    # The day really has something to get wrong: races, late states, rejections, duplicates.
    outcomes = {o for _, _, o in reference.tables["processed"].values()}
    assert {
        "applied",
        "late",
        "duplicate",
        "rejected",
        "malformed",
        "parked_then_applied",
    } <= outcomes
    assert len(reference.tables["processed"]) > published * 0.7
    for name, projection in projections[1:]:
        found = differences(reference, projection)
        assert not found, f"{name} differs from {reference_name}:\n" + "\n".join(found)
