"""The sequencer's flow control on a real consumer: a partition whose records pile up waiting
for their twin is paused, and resumed once they move on."""

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstate.events.decode import DecodeLimits
from orderstate.kafka_client import expected_partition
from orderstate.worker.sequencer import Sequencer
from tests.support.events import created, record, shipment, state
from tests.support.kafka import PARTITIONS, TopicNames
from tests.support.pipeline import produce

ORDER = "SEQ-1"


async def _fetch(consumer: AIOKafkaConsumer, count: int) -> dict[TopicPartition, list[Any]]:
    got: dict[TopicPartition, list[Any]] = {}
    async with asyncio.timeout(30):
        while sum(len(r) for r in got.values()) < count:
            for tp, records in (await consumer.getmany(timeout_ms=1_000)).items():
                got.setdefault(tp, []).extend(records)
    return got


async def test_a_partition_waiting_for_its_twin_is_paused_then_resumed(
    kafka_bootstrap: str, topics: TopicNames
) -> None:
    pair = expected_partition(f"shop-1:{ORDER}".encode(), PARTITIONS)
    orders_tp = TopicPartition(topics.orders, pair)
    shipments_tp = TopicPartition(topics.shipments, pair)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([orders_tp, shipments_tp])
        sequencer = Sequencer(
            consumer,
            orders_topic=topics.orders,
            shipments_topic=topics.shipments,
            limits=DecodeLimits(),
            marker_wait_s=0.02,
            hold_limit=3,
        )
        sequencer.partitions = {topics.orders: PARTITIONS, topics.shipments: PARTITIONS}
        sequencer.assign(pair, (0, 0), (0, 0))

        # Three order events (times T0, T0+1 and T0+2 minutes) and nothing in the shipments
        # partition yet: none can be released.
        await produce(
            kafka_bootstrap,
            topics.orders,
            [
                record(created(order=ORDER)),
                record(state("paid", order=ORDER, minutes=1)),
                record(state("in_production", order=ORDER, minutes=2)),
            ],
        )
        sequencer.push(await _fetch(consumer, 3))
        assert sequencer.release(100) == []
        assert consumer.paused() == {orders_tp}, "three waiting records reach the hold limit"

        # A shipment at T0 lets the first order event and itself through; two stay, below the
        # limit, so the orders partition is fetched again.
        await produce(kafka_bootstrap, topics.shipments, [record(shipment(order=ORDER))])
        sequencer.push(await _fetch(consumer, 1))
        released = sequencer.release(100)
        assert [i.position.topic for i in released if i.position] == [
            topics.orders,
            topics.shipments,
        ]
        assert consumer.paused() == set()
    finally:
        await consumer.stop()
