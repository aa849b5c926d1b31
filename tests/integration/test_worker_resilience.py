"""The worker rides out PostgreSQL going away, and its watchdog ends it when it is stuck."""

import asyncio

import asyncpg
import pytest

from orderstate.domain import PolicyBook
from orderstate.settings import Settings
from orderstate.worker.loop import WATCHDOG_EXIT_CODE, Worker
from tests.support.events import created, record, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import produce, running, settings_for, wait_for


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_watchdog_ends_a_worker_stuck_while_there_is_lag(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, database_url: str
) -> None:
    await produce(
        kafka_bootstrap, topics.orders, [record(created(order=f"W-{n}")) for n in range(5)]
    )
    blocker = await asyncpg.connect(database_url)
    transaction = blocker.transaction()
    await transaction.start()
    # Every batch now waits for this lock: no progress, and the records stay unread (lag).
    await blocker.execute("LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        worker = Worker(settings, PolicyBook(), pool, stop=asyncio.Event(), watchdog_timeout_s=3)
        code = await asyncio.wait_for(worker.run(), timeout=45)
    finally:
        await transaction.rollback()
        await blocker.close()
        await pool.close()
    assert code == WATCHDOG_EXIT_CODE
    assert await _count(database_url, "SELECT count(*) FROM processed_events") == 0


async def test_worker_survives_its_database_connections_being_killed(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, database_url: str
) -> None:
    orders = [f"K-{n}" for n in range(60)]
    database = database_url.rsplit("/", 1)[1]
    killer = await asyncpg.connect(database_url)
    try:
        async with running(settings):
            for chunk in range(0, 60, 10):
                names = orders[chunk : chunk + 10]
                await produce(
                    kafka_bootstrap,
                    topics.orders,
                    [record(created(order=o)) for o in names]
                    + [record(state("paid", order=o)) for o in names],
                )
                # PostgreSQL "goes away" for every connection of the worker and relay.
                await killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
                await asyncio.sleep(0.3)
            await wait_for(lambda: _all_paid(database_url, 60), timeout_s=90)
    finally:
        await killer.close()
    assert await _count(database_url, "SELECT count(*) FROM processed_events") == 120
    assert await _count(database_url, "SELECT max(version) FROM orders") == 2
    assert await _count(database_url, "SELECT count(*) FROM order_state_history") == 120


async def _all_paid(url: str, expected: int) -> bool:
    return await _count(url, "SELECT count(*) FROM orders WHERE state = 'paid'") == expected
