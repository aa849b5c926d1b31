"""Kafka in, PostgreSQL, Kafka out: the worker and the relay on the real broker and server."""

import asyncio
import json
import shutil
import subprocess
from collections import defaultdict

import asyncpg
import pytest
from confluent_kafka import Producer

from orderstate.relay.outbox_relay import Relay
from orderstate.settings import Settings
from orderstate.worker.loop import Worker
from tests.support.events import created, event, record, shipment, state, structured_record
from tests.support.kafka import TopicNames
from tests.support.pipeline import (
    Published,
    consume_until,
    produce,
    running,
    settings_for,
    wait_for,
)


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


async def _fetchval(settings: Settings, sql: str) -> object:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _of_type(kind: str, count: int):  # type: ignore[no-untyped-def]
    return lambda seen: sum(p.type == kind for p in seen) >= count


async def test_events_become_rows_and_state_changed_events(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    async with running(settings):
        await produce(kafka_bootstrap, topics.orders, [record(created()), record(state("paid"))])
        # Two topics have no order between them; wait so the shipment comes after the payment.
        await wait_for(lambda: _state_is(settings, "ORD-1", "paid"))
        await produce(kafka_bootstrap, topics.shipments, [record(shipment("S1"))])
        await wait_for(lambda: _state_is(settings, "ORD-1", "shipped"))
        out = await consume_until(
            kafka_bootstrap, topics.order_events, _of_type("order.state_changed", 3)
        )
    changes = [p for p in out if p.type == "order.state_changed"]
    assert [(p.data["from_state"], p.data["to_state"]) for p in changes] == [
        (None, "new"),
        ("new", "paid"),
        ("paid", "shipped"),
    ]
    first = changes[0]
    assert first.key == "shop-1:ORD-1"
    assert first.headers["ce_specversion"] == "1.0"
    assert first.headers["ce_source"] == "orderstate"
    assert first.headers["ce_shopid"] == "shop-1"
    assert first.headers["ce_orderid"] == "ORD-1"
    assert first.headers["content-type"] == "application/json"
    # Linking the shipment emits order.shipment_linked and the move to shipped: each gets its
    # own sequence number, and data.version is the order's version after the change.
    every = sorted(out, key=lambda p: int(p.headers["ce_sequence"]))
    assert [(p.type, p.headers["ce_sequence"], p.data["version"]) for p in every] == [
        ("order.state_changed", "1", 1),
        ("order.state_changed", "2", 2),
        ("order.shipment_linked", "3", 3),
        ("order.state_changed", "4", 3),
    ]
    assert changes[2].data["order"]["shipments"][0]["shipment_id"] == "S1"


async def _state_is(settings: Settings, order_id: str, expected: str) -> bool:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        got = await conn.fetchval("SELECT state FROM orders WHERE order_id = $1", order_id)
    finally:
        await conn.close()
    return bool(got == expected)


async def test_events_from_kcat_and_librdkafka_are_accepted(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed: apt-get install kcat"
    # kcat in structured mode: the whole CloudEvent as the value.
    key, value, _ = structured_record(created(order="ORD-KCAT"))
    await asyncio.to_thread(
        subprocess.run,
        [
            kcat,
            "-b",
            kafka_bootstrap,
            "-P",
            "-t",
            topics.orders,
            "-k",
            key.decode(),
            "-H",
            "content-type=application/cloudevents+json",
        ],
        input=value,
        check=True,
        timeout=60,
        capture_output=True,
    )
    # confluent-kafka (librdkafka) in binary mode: ce_* headers and the data as the value.
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for ev in (created(order="ORD-RDK"), state("paid", order="ORD-RDK")):
        k, v, headers = record(ev)
        producer.produce(topics.orders, key=k, value=v, headers=[*headers])
    assert producer.flush(30) == 0

    async with running(settings):
        await wait_for(lambda: _state_is(settings, "ORD-RDK", "paid"))
        await wait_for(lambda: _state_is(settings, "ORD-KCAT", "new"))


async def test_malformed_message_is_rejected_and_the_next_one_processed(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    good = created(order="ORD-AFTER")
    await produce(
        kafka_bootstrap,
        topics.orders,
        [(b"shop-1:ORD-BAD", b"{this is not json", [("ce_specversion", b"1.0")]), record(good)],
    )
    async with running(settings):
        rejected = await consume_until(kafka_bootstrap, topics.rejected, lambda s: len(s) >= 1)
        await wait_for(lambda: _state_is(settings, "ORD-AFTER", "new"))
    assert rejected[0].type == "event.rejected"
    assert rejected[0].data["reason"] == "malformed"
    assert rejected[0].data["message"].startswith("the record value is not valid JSON")
    assert rejected[0].data["original"]["value"] == "{this is not json"
    assert rejected[0].key == "shop-1:ORD-BAD"


async def test_shipment_before_its_order_is_parked_then_applied(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    async with running(settings):
        await produce(kafka_bootstrap, topics.shipments, [record(shipment("S7", order="ORD-7"))])
        await wait_for(lambda: _count(settings, "parked_events", 1))
        await produce(kafka_bootstrap, topics.orders, [record(created(order="ORD-7"))])
        await wait_for(lambda: _state_is(settings, "ORD-7", "shipped"))
    assert await _fetchval(settings, "SELECT count(*) FROM parked_events") == 0


async def _count(settings: Settings, table: str, expected: int) -> bool:
    return await _fetchval(settings, f"SELECT count(*) FROM {table}") == expected


async def test_redelivered_events_change_nothing(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    batch = [record(created(order="ORD-R")), record(state("paid", order="ORD-R"))]
    await produce(kafka_bootstrap, topics.orders, batch)
    await produce(kafka_bootstrap, topics.orders, batch)  # the same events again, same ids
    async with running(settings):
        await wait_for(lambda: _count(settings, "processed_events", 2))
        await wait_for(lambda: _offsets_reach(settings, 4))
    assert await _fetchval(settings, "SELECT version FROM orders") == 2
    assert await _fetchval(settings, "SELECT count(*) FROM order_state_history") == 2
    assert await _fetchval(settings, "SELECT count(*) FROM outbox") == 2


async def _offsets_reach(settings: Settings, total: int) -> bool:
    # The orders topic only: the shipments partition may hold the worker's merge markers.
    return (
        await _fetchval(
            settings,
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
            f"WHERE topic = '{settings.topic_orders}'",
        )
        == total
    )


async def test_two_workers_split_partitions_without_duplicate_effects(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    orders = [f"ORD-{n}" for n in range(60)]
    await produce(kafka_bootstrap, topics.orders, [record(created(order=o)) for o in orders])

    async def trickle(names: list[str]) -> None:
        for chunk in range(0, len(names), 6):
            await produce(
                kafka_bootstrap,
                topics.orders,
                [record(state("paid", order=o)) for o in names[chunk : chunk + 6]],
            )
            await asyncio.sleep(0.2)

    async with running(settings) as first:
        await wait_for(lambda: _count(settings, "orders", 60))
        # A second member joins while events keep coming: a rebalance under load.
        producing = asyncio.create_task(trickle(orders[:30]))
        async with running(settings, relays=0) as second:
            await producing
            await wait_for(lambda: _has_assignment(second.workers[0]))
            await trickle(orders[30:])
            await wait_for(lambda: _paid_count(settings, 60))
            assert second.workers[0].consumer.assignment()
            assert not (
                first.workers[0].consumer.assignment() & second.workers[0].consumer.assignment()
            )
        out = await consume_until(
            kafka_bootstrap, topics.order_events, _of_type("order.state_changed", 120)
        )
    assert second.workers[0].events_processed > 0
    assert first.workers[0].events_processed > 60
    assert await _fetchval(settings, "SELECT max(version) FROM orders") == 2
    assert await _fetchval(settings, "SELECT count(*) FROM order_state_history") == 120
    assert await _fetchval(settings, "SELECT count(*) FROM outbox") == 120
    assert len({p.id for p in out}) == 120


async def _has_assignment(worker: Worker) -> bool:
    return bool(worker.consumer.assignment())


async def _paid_count(settings: Settings, expected: int) -> bool:
    got = await _fetchval(settings, "SELECT count(*) FROM orders WHERE state = 'paid'")
    return bool(got == expected)


class _CrashAfterProduce(Relay):
    """Dies between the broker's acknowledgement and marking the rows sent, once."""

    crashed = False

    async def _mark_sent(self, conn, ids, acked) -> None:  # type: ignore[no-untyped-def]
        if not _CrashAfterProduce.crashed:
            _CrashAfterProduce.crashed = True
            raise ConnectionResetError("simulated crash after produce, before mark")
        await super()._mark_sent(conn, ids, acked)


async def test_relay_crash_between_produce_and_mark_loses_nothing(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    await produce(
        kafka_bootstrap,
        topics.orders,
        [record(created(order=f"ORD-{n}")) for n in range(10)],
    )
    _CrashAfterProduce.crashed = False
    async with running(settings, relay_class=_CrashAfterProduce):
        await wait_for(lambda: _count(settings, "processed_events", 10))
        await wait_for(lambda: _unsent_is_zero(settings))
        # Everything is marked sent, so the rows of the crashed attempt went out twice.
        out = await consume_until(
            kafka_bootstrap,
            topics.order_events,
            lambda s: len({p.id for p in s}) >= 10 and len(s) > 10,
        )
    assert _CrashAfterProduce.crashed
    ids = [p.id for p in out]
    assert len(set(ids)) == 10
    # The re-send repeated ids; it never invented new ones.
    assert len(ids) > 10
    by_id: dict[str, list[Published]] = defaultdict(list)
    for p in out:
        by_id[p.id].append(p)
    assert all(
        len({json.dumps(x.data, sort_keys=True) for x in copies}) == 1 for copies in by_id.values()
    )


async def _unsent_is_zero(settings: Settings) -> bool:
    return await _fetchval(settings, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_two_relays_keep_every_orders_sequence_in_order(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, database_url: str
) -> None:
    orders = [f"ORD-{n}" for n in range(40)]
    steps = ["paid", "in_production", "warehouse_handover", "in_preparation"]
    records = [record(created(order=o)) for o in orders]
    records += [
        record(state(s, order=o, minutes=i + 1)) for i, s in enumerate(steps) for o in orders
    ]
    records += [
        record(event("order.tags_set", {"order_tags": {"n": str(n)}}, order=o))
        for n in range(3)
        for o in orders
    ]
    await produce(kafka_bootstrap, topics.orders, records)
    # Worker alone first, so the outbox fills up; then two relays drain it concurrently.
    async with running(settings, relays=0):
        await wait_for(lambda: _count(settings, "processed_events", len(records)))
    async with running(settings, workers=0, relays=2):
        await wait_for(lambda: _unsent_is_zero(settings))
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len({p.id for p in s}) >= len(records)
        )
    sequences: dict[str, list[int]] = defaultdict(list)
    for p in sorted(out, key=lambda p: (p.partition, p.offset)):
        sequences[p.key].append(int(p.headers["ce_sequence"]))
    assert len(sequences) == 40
    for key, seq in sequences.items():
        assert seq == sorted(seq), f"{key} out of order: {seq}"
        assert seq[-1] == 8


async def test_an_event_postgresql_refuses_is_rejected_not_a_crash_loop(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, database_url: str
) -> None:
    """Defence in depth: should PostgreSQL refuse an event's data, the worker isolates that
    event by halving the batch, rejects it as malformed, and applies the rest."""
    conn = await asyncpg.connect(database_url)
    try:
        # A stand-in for any value the database cannot take: a constraint the test adds.
        await conn.execute(
            "ALTER TABLE orders ADD CONSTRAINT test_no_poison CHECK (NOT tags ? 'poison')"
        )
    finally:
        await conn.close()
    batch = [record(created(order=f"ORD-{n}")) for n in range(7)]
    batch.insert(3, record(created(order="ORD-POISON", order_tags={"poison": "1"})))
    await produce(kafka_bootstrap, topics.orders, batch)
    async with running(settings):
        await wait_for(lambda: _count(settings, "orders", 7))
        rejected = await consume_until(kafka_bootstrap, topics.rejected, lambda s: len(s) >= 1)
    assert rejected[0].key == "shop-1:ORD-POISON"
    assert rejected[0].data["reason"] == "malformed"
    assert (
        rejected[0].data["message"].startswith("the event could not be stored: CheckViolationError")
    )
    # Seven applied events, and the refused record, kept by its place in the log so that a
    # redelivery of it is not rejected a second time.
    assert (
        await _fetchval(settings, "SELECT count(*) FROM processed_events WHERE outcome = 'applied'")
        == 7
    )
    assert (
        await _fetchval(
            settings, "SELECT event_id FROM processed_events WHERE outcome = 'malformed'"
        )
        == f"{rejected[0].data['original']['partition']}:{rejected[0].data['original']['offset']}"
    )
