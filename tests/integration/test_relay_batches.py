"""The relay's record batches: as large as ORDERSTATE_RELAY_BATCH_BYTES allows (aiokafka's own
16 KiB default costs as much per batch as the records in it), but never larger than the
broker accepts on the topics it publishes to: a batch over a topic's max.message.bytes is
refused whole, even when each record in it would fit."""

import asyncio
from typing import Any

import asyncpg
import pytest

from orderstate.relay.outbox_relay import Relay
from tests.support.events import created, record
from tests.support.kafka import TopicNames, limit_topic
from tests.support.pipeline import consume_until, produce, running, settings_for, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

_ORDERS = 150


async def _value(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _started(relay: Relay) -> asyncio.Task[int]:
    task = asyncio.create_task(relay.run())

    async def producing() -> bool:
        return relay.producer is not None

    await wait_for(producing, timeout_s=60)
    return task


async def test_batches_are_as_large_as_the_setting_where_the_topics_allow_it(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics, relay_batch_bytes=300_000)
    async with running(settings, relays=0) as pipeline:
        relay = Relay(settings, pipeline.pool, stop=pipeline.stop)
        task = await _started(relay)
        pipeline.stop.set()
        assert await task == 0
    assert relay.batch_bytes == 300_000


async def test_batches_shrink_to_the_smallest_topic_limit_and_nothing_is_refused(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    # Each of these events is about 1.5 kB; one wave of the relay holds all of them, so a
    # 256 KiB batch per partition would be far over the topic's 20,000 bytes.
    await limit_topic(kafka_bootstrap, topics.order_events, 20_000)
    settings = settings_for(kafka_bootstrap, database_url, topics, relay_batch_bytes=256 * 1024)
    orders = [record(created(order=f"O-{n}")) for n in range(_ORDERS)]
    async with running(settings, relays=0) as pipeline:
        # Every row is in the outbox before the relay starts: its first round sends them all.
        await produce(kafka_bootstrap, topics.orders, orders)
        await wait_for(
            lambda: _at_least(database_url, "SELECT count(*) FROM outbox", _ORDERS), timeout_s=60
        )
        relay = Relay(settings, pipeline.pool, stop=pipeline.stop)
        task = await _started(relay)
        first_producer = relay.producer
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len(s) >= _ORDERS, timeout_s=60
        )
        pipeline.stop.set()
        assert await task == 0
    assert relay.batch_bytes == 20_000 - 1024
    # No batch was refused: a refusal replaces the producer and sends its rows one by one.
    assert relay.producer is first_producer
    assert sorted(p.key for p in out) == sorted(f"shop-1:O-{n}" for n in range(_ORDERS))
    assert await _value(database_url, "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL") == 0


async def _at_least(url: str, sql: str, expected: int) -> bool:
    return bool(await _value(url, sql) >= expected)
