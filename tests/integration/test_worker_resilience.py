"""The worker rides out PostgreSQL going away, and its watchdog ends it when it is stuck."""

import asyncio
import socket
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstate.domain import PolicyBook
from orderstate.events.decode import DecodeLimits
from orderstate.projector.queries import query
from orderstate.settings import Settings
from orderstate.worker.loop import WATCHDOG_EXIT_CODE, Worker
from orderstate.worker.offsets import SeekToStoredOffsets
from orderstate.worker.sequencer import Sequencer
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


async def test_partitions_assigned_while_the_database_is_away_wait_for_it(
    kafka_bootstrap: str, topics: TopicNames, database_url: str
) -> None:
    """Regression: aiokafka logs a failing assignment listener and goes on without it. The
    worker then fetched its partitions with no merge state for their pairs and stood still
    (once in ten runs of the test above, when the kill hit the offsets' read)."""
    setup = await asyncpg.connect(database_url)
    try:
        await setup.execute(
            query("store_offsets"),
            "g",
            [topics.orders, topics.shipments],
            [0, 0],
            [0, 0],
            [1_000, 2_000],
            [1_000, 2_000],
            datetime.now(UTC),
        )
    finally:
        await setup.close()
    database = _Away(database_url)
    pool = await database.pool()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topics.orders, 0), TopicPartition(topics.shipments, 0)]
        consumer.assign(assigned)
        sequencer = Sequencer(
            consumer,
            orders_topic=topics.orders,
            shipments_topic=topics.shipments,
            limits=DecodeLimits(),
            marker_wait_s=0.02,
            hold_limit=1_000,
        )
        listener = SeekToStoredOffsets(
            consumer,
            pool=pool,
            group="g",
            orders_topic=topics.orders,
            batch_lock=asyncio.Lock(),
            sequencer=sequencer,
            on_change=lambda: None,
        )
        task = asyncio.create_task(listener.on_partitions_assigned(assigned))
        await asyncio.sleep(1.5)
        assert not task.done(), "the listener gave up while the database was away"
        database.away = False
        await asyncio.wait_for(task, timeout=30)
        assert sequencer.times() == {assigned[0]: 1_000, assigned[1]: 2_000}
    finally:
        await consumer.stop()
        await pool.close()


async def test_a_worker_started_while_the_database_is_away_waits_for_it(
    settings: Settings, kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """Regression: the start-up read of legacy parked rows was not retried, so a database that
    was away for a moment (its connections killed, a restart) ended the worker at start."""
    database = _Away(database_url)
    pool = await database.pool()
    stop = asyncio.Event()
    try:
        worker = asyncio.create_task(
            Worker(settings, PolicyBook(), pool, stop=stop, watchdog_timeout_s=120).run()
        )
        await asyncio.sleep(3)
        assert not worker.done(), "the worker gave up while the database was away"
        database.away = False
        await produce(kafka_bootstrap, topics.orders, [record(created(order="AWAY-1"))])
        await wait_for(
            lambda: _at_least(database_url, "SELECT count(*) FROM orders", 1), timeout_s=60
        )
        stop.set()
        assert await asyncio.wait_for(worker, timeout=30) == 0
    finally:
        stop.set()
        await pool.close()


async def _at_least(url: str, sql: str, expected: int) -> bool:
    return await _count(url, sql) >= expected


class _Away:
    """A pool's connections to the real server, refused while ``away`` is true: they go to a
    port nothing listens on, as when PostgreSQL restarts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.away = True
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.closed_port = probe.getsockname()[1]

    async def _connect(self, *args: object, **kwargs: object) -> asyncpg.Connection:
        if self.away:
            return await asyncpg.connect(self.url, port=self.closed_port)
        return await asyncpg.connect(self.url)

    async def pool(self) -> asyncpg.Pool:
        return await asyncpg.create_pool(self.url, min_size=0, max_size=4, connect=self._connect)
