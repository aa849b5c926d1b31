"""The worker's offsets in Kafka, for lag tooling, on the real broker and server.

PostgreSQL holds the offsets that count; the worker commits the same offsets to its Kafka
group in the background, so that kafka-consumer-groups, an autoscaler or a lag exporter see
what was applied. The next batch does not wait for that commit, so these tests check that
the commits still arrive: while the worker runs, and for the last batch when it stops.
"""

import asyncio
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from orderstate.domain import PolicyBook
from orderstate.projector.inputs import Input
from orderstate.settings import Settings
from orderstate.worker.loop import Worker
from tests.support.events import created, record, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import produce, running, settings_for, wait_for


async def _stored(settings: Settings) -> dict[TopicPartition, int]:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
            settings.consumer_group,
        )
    finally:
        await conn.close()
    return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def _committed(settings: Settings) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        found: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(
            settings.consumer_group
        )
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


def _orders(count: int, first: int = 0) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    records = []
    for n in range(first, first + count):
        order = f"ORD-{n}"
        records += [record(created(order=order)), record(state("paid", order=order))]
    return records


async def test_kafka_follows_the_offsets_the_worker_stored(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    async with running(settings, relays=0):
        for wave in range(3):
            await produce(kafka_bootstrap, topics.orders, _orders(40, first=wave * 40))

            async def stored_all(total: int = (wave + 1) * 80) -> bool:
                stored = await _stored(settings)
                return sum(o for tp, o in stored.items() if tp.topic == topics.orders) >= total

            await wait_for(stored_all)

            async def kafka_caught_up() -> bool:
                stored = await _stored(settings)
                committed = await _committed(settings)
                return all(committed.get(tp) == offset for tp, offset in stored.items())

            # While the worker runs: each wave's offsets reach Kafka without a stop.
            await wait_for(kafka_caught_up, timeout_s=30)
    stored = await _stored(settings)
    assert sum(o for tp, o in stored.items() if tp.topic == topics.orders) == 240
    assert {tp: o for tp, o in (await _committed(settings)).items() if tp in stored} == stored


class _StopsAfterItsFirstBatch(Worker):
    """Told to stop the moment its first batch is applied: the Kafka commit of that batch has
    only just been started."""

    def _commit_to_kafka(self, inputs: list[Input]) -> None:
        super()._commit_to_kafka(inputs)
        self.stop.set()


async def test_the_last_batch_reaches_kafka_before_the_worker_leaves(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics, merge_marker_wait_ms=0)
    await produce(kafka_bootstrap, topics.orders, _orders(60))
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=4
    )
    try:
        worker = _StopsAfterItsFirstBatch(
            settings, PolicyBook(), pool, stop=asyncio.Event(), watchdog_timeout_s=60
        )
        assert await asyncio.wait_for(worker.run(), timeout=60) == 0
    finally:
        await pool.close()
    stored = await _stored(settings)
    assert stored, "the worker stored no offsets"
    committed = await _committed(settings)
    assert {tp: committed.get(tp) for tp in stored} == stored
