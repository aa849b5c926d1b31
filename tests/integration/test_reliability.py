"""Never stuck, nothing lost, nothing doubled, always in order: one test per defect the
fault-injection review found, on the real broker and server. docs/reliability.md says what
each protects."""

import asyncio
import gc
import json
import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import Producer
from prometheus_client import REGISTRY
from pydantic import SecretStr

from orderstate.domain import PolicyBook
from orderstate.kafka_client import expected_partition
from orderstate.projector import retention
from orderstate.projector.inputs import Incoming
from orderstate.projector.queries import query
from orderstate.settings import Settings
from orderstate.worker.loop import Worker
from orderstate.worker.records import MARKER_HEADER
from tests.support.events import T0, created, event, record, shipment, state
from tests.support.kafka import TopicNames, limit_topic
from tests.support.outbox_text import OUTBOX
from tests.support.pipeline import consume_until, produce, running, settings_for, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def _rows(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _value(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _reaches(url: str, sql: str, expected: int) -> bool:
    return bool(await _value(url, sql) >= expected)


def _item(n: int, prefix: str = "l") -> dict[str, Any]:
    # About 400 bytes in the order's snapshot: the test can grow an order past a limit.
    return {
        "item_id": f"{prefix}{n}",
        "sku": f"SKU-{n:04d}-" + "x" * 80,
        "name": "n" * 250,
        "quantity": 1,
    }


# -- 1. one order can never hold back other orders' events ---------------------------------


async def test_a_change_that_would_make_the_orders_event_too_large_is_refused(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics, max_event_bytes=64 * 1024)
    big = created(order="BIG", items=[_item(n) for n in range(100)])
    adds = [event("order.item_added", _item(n, "x"), order="BIG") for n in range(100)]
    others = [created(order=f"O-{n}") for n in range(20)]
    await produce(kafka_bootstrap, topics.orders, [record(e) for e in [big, *adds, *others]])
    async with running(settings):
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM processed_events", 121))
        total = await _value(
            database_url, "SELECT count(*) FROM outbox WHERE topic_role = 'order_events_out'"
        )
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len(s) >= total, timeout_s=30
        )
    reasons = [r["reason"] for r in await _rows(database_url, "SELECT reason FROM rejected_events")]
    accepted = await _value(database_url, "SELECT count(*) FROM order_items WHERE order_id = 'BIG'")
    assert set(reasons) == {"order_too_large"}
    assert len(reasons) == 200 - accepted
    assert 100 < accepted < 200
    assert {p.key for p in out} >= {f"shop-1:O-{n}" for n in range(20)}
    assert max(len(p.data["order"]["items"]) for p in out if p.key == "shop-1:BIG") == accepted
    assert await _value(database_url, f"SELECT max(length(event)) FROM {OUTBOX}") <= 64 * 1024


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ORDERSTATE_DATABASE_URL": database_url,
        "ORDERSTATE_LOG_FORMAT": "console",
    }
    return subprocess.run(
        [sys.executable, "-m", "orderstate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_row_the_broker_refuses_is_dead_lettered_and_only_its_order_waits(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    await limit_topic(kafka_bootstrap, topics.order_events, 20_000)
    big = created(order="BIG", items=[_item(n) for n in range(80)])
    first = [record(big), *(record(created(order=f"O-{n}")) for n in range(10))]
    later = [
        record(state("paid", order="BIG")),
        *(record(state("paid", order=f"O-{n}")) for n in range(10)),
    ]
    async with running(settings):
        await produce(kafka_bootstrap, topics.orders, first)
        await produce(kafka_bootstrap, topics.orders, later)
        out = await consume_until(
            kafka_bootstrap,
            topics.order_events,
            lambda s: sum(p.key.startswith("shop-1:O-") for p in s) >= 20,
            timeout_s=30,
        )
        # The other orders' events are on the topic once the broker acknowledged them; the
        # round that dead-letters BIG's row commits after its last wave.
        await wait_for(
            lambda: _reaches(
                database_url, "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL", 1
            )
        )
        dead = await _rows(
            database_url, "SELECT id, order_id, dead_reason FROM outbox WHERE dead_at IS NOT NULL"
        )
        waiting = await _value(
            database_url,
            "SELECT count(*) FROM outbox "
            "WHERE order_id = 'BIG' AND sent_at IS NULL AND dead_at IS NULL",
        )
        listed = _cli(database_url, "outbox", "list")
        # Nothing of BIG went out: its first event is refused and its second waits behind it.
        assert not [p for p in out if p.key == "shop-1:BIG"]
        assert [(r["order_id"], r["dead_reason"].split(":")[0]) for r in dead] == [
            ("BIG", "MessageSizeTooLargeError")
        ]
        assert waiting == 1
        assert listed.returncode == 0
        assert f"{dead[0]['id']}\tshop-1\tBIG\torder_events_out" in listed.stdout
        assert "\t1\tMessageSizeTooLargeError" in listed.stdout
        # The operator raises the topic's limit and gives the row back: both events go out,
        # in order.
        await limit_topic(kafka_bootstrap, topics.order_events, 1_048_588)
        retried = _cli(database_url, "outbox", "retry", str(dead[0]["id"]))
        assert retried.returncode == 0, retried.stderr
        big_events = await consume_until(
            kafka_bootstrap,
            topics.order_events,
            lambda s: sum(p.key == "shop-1:BIG" for p in s) >= 2,
            timeout_s=30,
        )
    sequences = [int(p.headers["ce_sequence"]) for p in big_events if p.key == "shop-1:BIG"]
    assert sequences == [1, 2]
    assert "no dead-lettered outbox rows" in _cli(database_url, "outbox", "list").stdout


# -- 2. the merge always makes progress, whatever the timestamps ---------------------------


async def test_a_quiet_pair_with_times_going_backwards_is_applied_without_a_stall(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """The review's deadlock: producers that stamp records with event time. The orders
    partition holds created at t+10 s then paid at t+5 s, its twin shipments at t+6 s and
    t+7 s, and nothing more comes."""
    settings = settings_for(kafka_bootstrap, database_url, topics)
    order = "Q-1"
    link = {"shipment_id": "S-1", "direction": "outbound"}
    moved = {"shipment_id": "S-1", "status": "in_transit"}
    await _produce_stamped(
        kafka_bootstrap,
        topics.orders,
        [
            event("order.created", _created_data(), order=order, minutes=10 / 60),
            state("paid", order=order, minutes=5 / 60),
        ],
    )
    await _produce_stamped(
        kafka_bootstrap,
        topics.shipments,
        [
            event("shipment.created", link, order=order, minutes=6 / 60),
            event("shipment.status_changed", moved, order=order, minutes=7 / 60),
        ],
    )
    async with running(settings, relays=0) as pipeline:
        await wait_for(
            lambda: _reaches(database_url, "SELECT count(*) FROM processed_events", 4),
            timeout_s=20,
        )
        assert pipeline.workers[0].exit_code == 0
    assert await _value(database_url, "SELECT state FROM orders") == "shipped"


async def _produce_stamped(kafka: str, topic: str, events: list[Any]) -> None:
    """Each record's Kafka timestamp is its event time, as some producers set it."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for e in events:
            k, v, h = record(e)
            stamp = int(e.time.timestamp() * 1000)
            await (await producer.send(topic, key=k, value=v, headers=h, timestamp_ms=stamp))
    finally:
        await producer.stop()


def _created_data() -> dict[str, Any]:
    return {
        "order_date": "2026-03-02T09:00:00Z",
        "items": [{"item_id": "l1", "sku": "S", "quantity": 1}],
    }


# -- 3. parked events replay in the order they came ----------------------------------------


async def test_parked_shipment_events_replay_in_the_order_they_arrived(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """A status change parked beside its shipment.created, whose event id sorts first, must
    not be decided first and lost as unknown_shipment when the order comes."""
    settings = settings_for(kafka_bootstrap, database_url, topics)
    link = event(
        "shipment.created",
        {"shipment_id": "S-1", "direction": "outbound"},
        order="P-1",
        event_id="zz-link",
    )
    moved = event(
        "shipment.status_changed",
        {"shipment_id": "S-1", "status": "in_transit"},
        order="P-1",
        event_id="aa-status",
        minutes=1,
    )
    later = event("order.created", _created_data(), order="P-1", minutes=2)
    async with running(settings, relays=0):
        await produce(kafka_bootstrap, topics.shipments, [record(link), record(moved)])
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM parked_events", 2))
        await produce(kafka_bootstrap, topics.orders, [record(later)])
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM orders", 1))
        await wait_for(lambda: _reaches(database_url, "SELECT 1 - count(*) FROM parked_events", 1))
    assert await _rows(database_url, "SELECT reason FROM rejected_events") == []
    assert await _value(database_url, "SELECT status FROM order_shipments") == "in_transit"


# -- 4. an event that cannot be processed costs that event only ----------------------------


async def test_an_event_whose_processing_fails_is_rejected_as_internal_error_and_the_rest_applied(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    before = REGISTRY.get_sample_value("orderstate_internal_errors_total") or 0.0
    await produce(
        kafka_bootstrap,
        topics.orders,
        [record(created(order="A")), record(created(order="B"))],
    )
    await produce(kafka_bootstrap, topics.shipments, [record(shipment("S-C", order="C"))])
    async with running(settings, relays=0):
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM processed_events", 3))
        # A stored view that no longer validates, and a parked event that no longer decodes.
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE orders SET view = '{\"broken\": true}' WHERE order_id = 'A'")
            await conn.execute(
                "UPDATE parked_events SET event = event - 'type' || '{\"type\": \"no.such\"}'"
            )
        finally:
            await conn.close()
        await produce(
            kafka_bootstrap,
            topics.orders,
            [
                record(state("paid", order="A")),
                record(state("paid", order="B")),
                record(created(order="C")),
            ],
        )
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM processed_events", 6))
    rejected = await _rows(
        database_url, "SELECT order_id, reason FROM rejected_events ORDER BY order_id"
    )
    assert [(r["order_id"], r["reason"]) for r in rejected] == [
        ("A", "internal_error"),
        ("C", "internal_error"),
    ]
    states = await _rows(
        database_url, "SELECT order_id, state FROM orders WHERE order_id <> 'A' ORDER BY 1"
    )
    assert [(r["order_id"], r["state"]) for r in states] == [("B", "paid"), ("C", "new")]
    assert (REGISTRY.get_sample_value("orderstate_internal_errors_total") or 0.0) - before == 2


# -- 5. an idle worker does not trip the watchdog over transaction markers ----------------


async def test_a_caught_up_worker_after_a_transactional_producer_shows_no_lag(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{topics.orders}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            for e in (created(order="T-1"), state("paid", order="T-1")):
                k, v, h = record(e)
                await producer.send(topics.orders, key=k, value=v, headers=h)
    finally:
        await producer.stop()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    stop = asyncio.Event()
    worker = Worker(settings, PolicyBook(), pool, stop=stop, watchdog_timeout_s=4)
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM processed_events", 2))
        # Longer than the watchdog's timeout, while caught up.
        await asyncio.sleep(10)
        assert not task.done(), "the watchdog ended a worker that was caught up"
        assert worker.lag == 0
        partition = expected_partition(b"shop-1:T-1", 6)
        stored = await _value(
            database_url,
            "SELECT next_offset FROM consumer_offsets WHERE topic = $1 AND partition = $2",
            topics.orders,
            partition,
        )
        # Two records and the commit marker after them: the stored offset stepped over it.
        assert stored == 3
    finally:
        stop.set()
        code = await task
        await pool.close()
    assert code == 0


# -- 6. offsets are fenced; a rejection is kept once per record ----------------------------


async def test_a_redelivered_malformed_record_is_rejected_once(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    await produce(kafka_bootstrap, topics.orders, [(b"shop-1:M-1", b"{not json", [])])
    async with running(settings, relays=0):
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM rejected_events", 1))
    # The worker's stored offsets are lost (as when a zombie or a restore writes them back):
    # the record is read and decided again.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM consumer_offsets")
    finally:
        await conn.close()
    async with running(settings, relays=1):
        await wait_for(
            lambda: _reaches(
                database_url, "SELECT count(*) FROM consumer_offsets WHERE next_offset > 0", 1
            )
        )
        published = await consume_until(kafka_bootstrap, topics.rejected, lambda s: len(s) >= 1)
        await asyncio.sleep(1)
    assert await _value(database_url, "SELECT count(*) FROM rejected_events") == 1
    assert (
        await _value(database_url, "SELECT count(*) FROM outbox WHERE topic_role = 'rejected_out'")
        == 1
    )
    assert len(published) == 1


async def test_stored_offsets_never_move_back(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    now = datetime.now(UTC)
    try:
        for offset in (100, 50):
            await conn.execute(
                query("store_offsets"), "g", ["t"], [0], [offset], [offset], [offset], now
            )
        assert await conn.fetchval("SELECT next_offset FROM consumer_offsets") == 100
    finally:
        await conn.close()


# -- 10. every outbound event has its own sequence -----------------------------------------


async def test_an_order_created_with_boarding_complete_numbers_both_events(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    await produce(
        kafka_bootstrap, topics.orders, [record(created(order="B-1", boarding_complete=True))]
    )
    async with running(settings):
        out = await consume_until(kafka_bootstrap, topics.order_events, lambda s: len(s) >= 2)
    assert sorted((int(p.headers["ce_sequence"]), p.type, p.data["version"]) for p in out) == [
        (1, "order.state_changed", 1),
        (2, "order.boarding_completed", 1),
    ]
    assert await _value(database_url, "SELECT last_sequence FROM orders") == 2


# -- 11. tables do not grow without bound ----------------------------------------------------


async def test_retention_deletes_only_rows_past_their_age(database_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    new = datetime.now(UTC)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO processed_events SELECT 's', 'e' || g, 'shop', 'o', 'applied', "
            "CASE WHEN g <= $1 THEN $2::timestamptz ELSE $3::timestamptz END "
            "FROM generate_series(1, $1 + 1) g",
            retention.BATCH + 3,
            old,
            new,
        )
        await conn.execute(
            "INSERT INTO idempotency_keys VALUES ('shop', 'k-old', 'h', 201, '{}', NULL, $1), "
            "('shop', 'k-new', 'h', 201, '{}', NULL, $2)",
            old,
            new,
        )
        await conn.execute(
            "INSERT INTO rejected_events (shop_id, order_id, reason, message, original, "
            "rejected_at) VALUES ('shop', 'o', 'malformed', 'm', '{}', $1), "
            "('shop', 'o', 'malformed', 'm', '{}', $2)",
            old,
            new,
        )
        await conn.execute(
            "INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, event, created_at, "
            "sent_at) VALUES ('order_events_out', 1, 'shop', 'o', 'a', '{}', $1, $1), "
            "('order_events_out', 1, 'shop', 'o', 'b', '{}', $1, NULL), "
            "('order_events_out', 1, 'shop', 'o', 'c', '{}', $2, $2)",
            old,
            new,
        )
        deleted = await retention.clean_up(conn, Settings(database_url=SecretStr(database_url)))
        assert deleted == {
            "outbox": 1,
            "processed_events": retention.BATCH + 3,
            "idempotency_keys": 1,
            "rejected_events": 1,
        }
        left = {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in deleted}
        # The unsent outbox row stays, however old: retention never drops what is unpublished.
        assert left == {
            "outbox": 2,
            "processed_events": 1,
            "idempotency_keys": 1,
            "rejected_events": 1,
        }
    finally:
        await conn.close()


# -- the producer's partitioner does not matter ---------------------------------------------


async def test_the_same_orders_from_three_partitioners_end_the_same(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """orderstate's own producer (murmur2), librdkafka's default (CRC32) and librdkafka with
    murmur2_random write the events of the same orders; misplaced ones are copied to the
    partition their key maps to, counted, and every order ends as its events say."""
    settings = settings_for(kafka_bootstrap, database_url, topics)
    orders = [f"MIX-{n}" for n in range(12)]
    await produce(kafka_bootstrap, topics.orders, [record(created(order=o)) for o in orders])
    crc32 = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    murmur = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
        }
    )
    for o in orders:
        k, v, h = record(state("paid", order=o, minutes=1))
        crc32.produce(topics.orders, key=k, value=v, headers=[*h])
    assert crc32.flush(30) == 0
    for o in orders:
        k, v, h = record(
            event(
                "shipment.created",
                {"shipment_id": f"S-{o}", "direction": "outbound"},
                order=o,
                minutes=2,
            )
        )
        murmur.produce(topics.shipments, key=k, value=v, headers=[*h])
    assert murmur.flush(30) == 0
    before = (
        REGISTRY.get_sample_value("orderstate_records_misplaced_total", {"topic": topics.orders})
        or 0.0
    )
    async with running(settings, relays=0):
        await wait_for(
            lambda: _reaches(
                database_url, "SELECT count(*) FROM orders WHERE state = 'shipped'", 12
            )
        )
    misplaced = (
        REGISTRY.get_sample_value("orderstate_records_misplaced_total", {"topic": topics.orders})
        or 0.0
    ) - before
    crc32_elsewhere = sum(
        1
        for o in orders
        if _crc32_partition(f"shop-1:{o}".encode()) != expected_partition(f"shop-1:{o}".encode(), 6)
    )
    assert crc32_elsewhere > 0
    assert misplaced == crc32_elsewhere
    history = await _rows(
        database_url,
        "SELECT order_id, array_agg(state ORDER BY seq) AS states "
        "FROM order_state_history GROUP BY 1",
    )
    assert {tuple(r["states"]) for r in history} == {("new", "paid", "shipped")}


def _crc32_partition(key: bytes) -> int:
    """librdkafka's consistent_random for a non-empty key: CRC32 of the key, modulo."""
    return zlib.crc32(key) % 6


# -- the worker writes merge markers only where a partition is silent ----------------------


async def test_a_silent_twin_gets_a_merge_marker_and_nothing_waits_long(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    async with running(settings, relays=0):
        await produce(kafka_bootstrap, topics.orders, [record(created(order="Z-1"))])
        await wait_for(
            lambda: _reaches(database_url, "SELECT count(*) FROM orders", 1), timeout_s=10
        )
    partition = expected_partition(b"shop-1:Z-1", 6)

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topics.shipments, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        got = await consumer.getmany(tp, timeout_ms=2000)
    finally:
        await consumer.stop()
    markers = [r for r in got.get(tp, []) if any(n == MARKER_HEADER for n, _ in r.headers)]
    assert len(markers) == 1
    assert markers[0].key is None
    assert int(dict(markers[0].headers)[MARKER_HEADER]) >= int(T0.timestamp() * 1000)


# -- 8. a relay round costs the rows it publishes, not the backlog --------------------------


def _scanned(plan: list[dict[str, Any]]) -> int:
    """Rows that the plan read from tables (sequential and index scans), over all loops."""
    total = 0
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        if node["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"):
            total += int(node["Actual Rows"] * node["Actual Loops"])
        stack.extend(node.get("Plans", []))
    return total


async def test_a_relay_round_reads_the_rows_it_takes_not_the_backlog(database_url: str) -> None:
    backlog = 20_000
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, event, "
            "created_at) SELECT 'order_events_out', g % 64, 's', 'o' || (g % 500), 'e' || g, "
            "'{}', now() FROM generate_series(1, $1) g",
            backlog,
        )
        await conn.execute("ANALYZE outbox")
        async with conn.transaction():
            claim = json.loads(
                await conn.fetchval(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + query("relay_claim_lanes"), 0x6F7262
                )
            )
            take = json.loads(
                await conn.fetchval(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + query("relay_take_rows"),
                    list(range(64)),
                    5,
                )
            )
    finally:
        await conn.close()
    # 64 lanes: about two index probes each to find them, five rows each to take.
    assert _scanned(claim) <= 64 * 3
    assert _scanned(take) <= 64 * 5 * 2


# -- the worker holds no batch it has applied -------------------------------------------------


async def test_the_worker_keeps_nothing_of_the_batches_it_applied(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """Malformed records among records that wait for their twin: a decode error's traceback
    used to hold the fetch loop's frames, and through them every batch gathered since (the
    workers of the fault-injection run grew past 700 MB)."""
    settings = settings_for(kafka_bootstrap, database_url, topics, batch_max_events=50)
    orders, parcels = [], []
    for n in range(400):
        order = f"G-{n}"
        orders.append(record(created(order=order)))
        parcels.append(
            record(
                event(
                    "shipment.created",
                    {"shipment_id": "S", "direction": "outbound"},
                    order=order,
                    minutes=1,
                )
            )
        )
        if n % 10 == 0:
            orders.append((f"shop-1:{order}".encode(), b"{not json", []))
            parcels.append((f"shop-1:{order}".encode(), b"{not json", []))
    await produce(kafka_bootstrap, topics.orders, orders)
    await produce(kafka_bootstrap, topics.shipments, parcels)
    async with running(settings, relays=0):
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM processed_events", 880))
        await asyncio.sleep(1)
        alive = sum(1 for o in gc.get_objects() if isinstance(o, Incoming))
    assert alive < 100, f"{alive} inputs of applied batches are still in memory"


# -- an operator sees a stall ---------------------------------------------------------------


async def test_a_partition_that_stands_still_shows_in_the_stall_gauge(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    partition = expected_partition(b"shop-1:ST-1", 6)
    labels = {"topic": topics.orders, "partition": str(partition)}
    async with running(settings, relays=0):
        await produce(kafka_bootstrap, topics.orders, [record(created(order="ST-1"))])
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM orders", 1))
        blocker = await asyncpg.connect(database_url)
        transaction = blocker.transaction()
        await transaction.start()
        # Every batch now waits for this lock: the partition has records and makes no progress.
        await blocker.execute("LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE")
        try:
            await produce(kafka_bootstrap, topics.orders, [record(state("paid", order="ST-1"))])
            await asyncio.sleep(12)
            stalled = REGISTRY.get_sample_value("orderstate_partition_stalled_seconds", labels)
        finally:
            await transaction.rollback()
            await blocker.close()
        await wait_for(lambda: _reaches(database_url, "SELECT count(*) FROM processed_events", 2))
        await asyncio.sleep(6)
        after = REGISTRY.get_sample_value("orderstate_partition_stalled_seconds", labels)
    assert stalled is not None and stalled >= 5
    assert after == 0
