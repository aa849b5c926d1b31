"""The relay's record batches: as large as ORDERSTATE_RELAY_BATCH_BYTES allows (aiokafka's own
16 KiB default costs as much per batch as the records in it), but never larger than the
broker accepts on the topics it publishes to: a batch over a topic's max.message.bytes is
refused whole, even when each record in it would fit. The relay fills them itself, so each
record must land in the partition Kafka's default partitioner gives its key."""

import json
from typing import Any

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner

from orderstate.relay.outbox_relay import Relay
from tests.support.events import created, record
from tests.support.kafka import PARTITIONS, TopicNames, limit_topic
from tests.support.outbox_text import OUTBOX
from tests.support.pipeline import (
    Published,
    consume_until,
    produce,
    relay_started,
    running,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

_ORDERS = 150


async def _value(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_batches_are_as_large_as_the_setting_where_the_topics_allow_it(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics, relay_batch_bytes=300_000)
    async with running(settings, relays=0) as pipeline:
        relay = Relay(settings, pipeline.pool, stop=pipeline.stop)
        task = await relay_started(relay)
        pipeline.stop.set()
        assert await task == 0
    assert relay.batch_bytes == 300_000


async def _drain_into_a_limited_topic(
    kafka_bootstrap: str, database_url: str, topics: TopicNames, relay_type: type[Relay]
) -> tuple[Relay, Any, list[Published]]:
    """A relay of ``relay_type`` with 256 KiB batches, started once every row is in the
    outbox, publishing to an order-events topic that takes 20,000 bytes. Each event is about
    1.5 kB and the relay's first wave holds all of them, so a 256 KiB batch per partition
    would be far over the limit. Returns the relay, its first producer and what it published."""
    await limit_topic(kafka_bootstrap, topics.order_events, 20_000)
    settings = settings_for(kafka_bootstrap, database_url, topics, relay_batch_bytes=256 * 1024)
    orders = [record(created(order=f"O-{n}")) for n in range(_ORDERS)]
    async with running(settings, relays=0) as pipeline:
        await produce(kafka_bootstrap, topics.orders, orders)
        await wait_for(
            lambda: _at_least(database_url, "SELECT count(*) FROM outbox", _ORDERS), timeout_s=60
        )
        relay = relay_type(settings, pipeline.pool, stop=pipeline.stop)
        task = await relay_started(relay)
        first_producer = relay.producer
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len(s) >= _ORDERS, timeout_s=60
        )
        pipeline.stop.set()
        assert await task == 0
    assert relay.batch_bytes == 20_000 - 1024
    assert sorted(p.key for p in out) == sorted(f"shop-1:O-{n}" for n in range(_ORDERS))
    assert await _value(database_url, "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL") == 0
    return relay, first_producer, out


async def test_batches_shrink_to_the_smallest_topic_limit_and_nothing_is_refused(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    relay, first_producer, _ = await _drain_into_a_limited_topic(
        kafka_bootstrap, database_url, topics, Relay
    )
    # No batch was refused: a refusal replaces the producer and sends its rows one by one.
    assert relay.producer is first_producer


class _CountingRelay(Relay):
    """A relay that cannot read its topics' limits at start, as without the DescribeConfigs
    permission, and counts how often it replaces its producer."""

    replaced = 0
    fitted = 0

    async def _fitting_batch_bytes(self) -> int:
        self.fitted += 1
        if self.fitted == 1:
            return self.settings.relay_batch_bytes
        return await super()._fitting_batch_bytes()

    async def _replace_producer(self, why: BaseException) -> None:
        self.replaced += 1
        await super()._replace_producer(why)


async def test_batches_the_broker_refuses_cost_one_producer_replacement_not_one_per_row(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    # Without the topics' limits the relay starts with 256 KiB batches: its first wave's
    # batches (about 25 rows per partition) are all refused. Their rows were sent again one
    # by one, on one new producer that fits its batches to the topic.
    relay, _, _ = await _drain_into_a_limited_topic(
        kafka_bootstrap, database_url, topics, _CountingRelay
    )
    assert isinstance(relay, _CountingRelay)
    assert relay.replaced == 1


async def test_each_record_lands_in_the_partition_of_its_key(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    orders = [record(created(order=f"P-{n}")) for n in range(_ORDERS)]
    async with running(settings):
        await produce(kafka_bootstrap, topics.orders, orders)
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len(s) >= _ORDERS, timeout_s=60
        )
    partitions = sorted({p.partition for p in out})
    assert partitions == list(range(PARTITIONS))
    choose = DefaultPartitioner()
    assert [p.partition for p in out] == [
        choose(p.key.encode(), partitions, partitions) for p in out
    ]


async def _at_least(url: str, sql: str, expected: int) -> bool:
    return bool(await _value(url, sql) >= expected)


async def test_each_record_is_its_stored_event_in_binary_mode(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """The relay sends the stored text of data as it is (events/envelope.binary_from_stored):
    on the wire, each record is its outbox row's event, attributes as headers, data as the
    value."""
    settings = settings_for(kafka_bootstrap, database_url, topics)
    # Text that looks like the data member, in the data (escaped there, as every quote is).
    tags = {"note": ',"data":{"x":"ü \\" }}'}
    orders = [record(created(order=f"W-{n}", order_tags=tags)) for n in range(_ORDERS)]
    async with running(settings):
        await produce(kafka_bootstrap, topics.orders, orders)
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len(s) >= _ORDERS, timeout_s=60
        )
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            f"SELECT event_id, event FROM {OUTBOX} WHERE topic_role = 'order_events_out'"  # noqa: S608 -- a fixed fragment
        )
    finally:
        await conn.close()
    stored = {r["event_id"]: json.loads(r["event"]) for r in rows}
    assert len(out) == len(stored) == _ORDERS
    for published in out:
        event = stored[published.id]
        assert published.data == event.pop("data")
        assert published.headers == {
            **{
                f"ce_{name}": str(value)
                for name, value in event.items()
                if name != "datacontenttype"
            },
            "content-type": "application/json",
        }
