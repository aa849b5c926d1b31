"""`orderstate rebuild` and `orderstate verify` on the real broker and PostgreSQL server.

A live projection (a worker and a relay, Kafka traffic with races, redeliveries, late and
invalid states and malformed records, and REST writes, one of them rejected) is rebuilt by
replay into a new database with the real command: the rebuild equals the live projection by
`verify` and by the tests' own reading of every table, publishes nothing, leaves the live
group alone, and carries the API keys over. `verify` names a planted difference; a rebuild
refuses topics that lost their beginning and a database that holds orders.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from pydantic import SecretStr

from orderstate.rebuild.source import retention_warnings
from orderstate.settings import Settings
from orderstate.simulation.generator import SimConfig, generate
from orderstate.topics_admin import create_topics
from tests.support import databases, kafka
from tests.support.api import api_for, order_body
from tests.support.events import created, record, state
from tests.support.infra import Endpoints
from tests.support.kafka import TopicNames, delete_topics, unique_topics
from tests.support.pipeline import produce, running, settings_for, wait_for
from tests.support.processes import orderstate
from tests.support.projection import caught_up, differences, read_projection

# Event times a day before the records' timestamps, as in the same-log test.
_SIM = SimConfig(shops=2, orders=150, seed=23, start=datetime.now(UTC) - timedelta(hours=24))
_REST_SHOP = "shop-rest"


@pytest.fixture
async def empty_url(endpoints: Endpoints) -> AsyncIterator[str]:
    """A new database without tables: what an operator creates for a rebuild."""
    name = f"orderstate_rebuild_{uuid.uuid4().hex[:12]}"
    await databases.create_empty(endpoints.database_url, name)
    yield databases.with_database(endpoints.database_url, name)
    await databases.drop_database(endpoints.database_url, name)


async def _fetchval(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _publish_simulation(kafka: str, topics: TopicNames) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=10
    )
    await producer.start()
    try:
        futures = []
        for r in generate(_SIM):
            topic = topics.orders if r.role.value == "orders_in" else topics.shipments
            futures.append(await producer.send(topic, key=r.key, value=r.value, headers=r.headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _settled(settings: Settings, kafka: str, topics: TopicNames) -> bool:
    """The live worker applied everything and the relay published everything, the REST
    writes' inbound records too."""
    url = settings.database_url.get_secret_value()
    unsent = await _fetchval(
        url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL"
    )
    return unsent == 0 and await caught_up(
        kafka, url, settings.consumer_group, (topics.orders, topics.shipments)
    )


@dataclass
class Live:
    settings: Settings
    url: str
    key: str  # an API key of the REST shop, in the live database only


async def _live_projection(kafka: str, topics: TopicNames, url: str) -> Live:
    settings = settings_for(kafka, url, topics)
    await _publish_simulation(kafka, topics)
    async with running(settings):
        async for api in api_for(settings):
            headers = await api.as_shop(_REST_SHOP)
            for n in range(3):
                body = order_body(f"REST-{n}")
                assert (await api.client.post("/v2/orders", json=body, headers=headers)).is_success
            paid = {"order_id": "REST-0", "state": "paid", "datetime": "2026-11-27T10:00:00Z"}
            answer = await api.client.post("/v2/order-states", json=paid, headers=headers)
            assert answer.is_success, answer.text
            # new -> refunded is no transition: rejected live, and again in the replay.
            refunded = {"order_id": "REST-1", "state": "refunded", "datetime": paid["datetime"]}
            answer = await api.client.post("/v2/order-states", json=refunded, headers=headers)
            assert answer.status_code == 409, answer.text
        await wait_for(lambda: _settled(settings, kafka, topics), timeout_s=120)
    return Live(settings, url, headers["API-KEY"])


async def _ends(kafka: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(6)]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def _committed(kafka: str, group: str) -> dict[TopicPartition, Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        return dict(await admin.list_consumer_group_offsets(group))
    finally:
        await admin.close()


async def _stored(url: str, group: str) -> dict[tuple[str, int], int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
            group,
        )
    finally:
        await conn.close()
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def _without_rest_rejections(tables: dict[str, dict[Any, Any]]) -> dict[str, dict[Any, Any]]:
    """A REST write that was rejected live is rejected again in the replay, from the record it
    was logged as: the same event and reason, another ``original`` (a place in the log). The
    test compares those by event (``_rest_rejections``); every other row must be equal."""
    rest = {k[3] for k in tables["rejected"] if k[2] == "orderstate/api"}
    kept = dict(tables)
    kept["rejected"] = {k: v for k, v in tables["rejected"].items() if k[3] not in rest}
    kept["published"] = {
        k: v
        for k, v in tables["published"].items()
        if not (v["type"] == "event.rejected" and v["data"]["original"]["event_id"] in rest)
    }
    return kept


async def _rest_rejections(url: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT order_id, event_id, reason FROM rejected_events WHERE source = $1 ORDER BY 1",
            "orderstate/api",
        )
    finally:
        await conn.close()
    return [(r["order_id"], r["event_id"], r["reason"]) for r in rows]


async def test_a_rebuild_equals_the_live_projection_and_publishes_nothing(
    kafka_bootstrap: str, topics: TopicNames, database_url: str, empty_url: str
) -> None:
    live = await _live_projection(kafka_bootstrap, topics, database_url)
    group = live.settings.consumer_group
    every_topic = [*topics.inbound, topics.order_events, topics.rejected]
    ends_before = await _ends(kafka_bootstrap, every_topic)
    committed_before = await _committed(kafka_bootstrap, group)
    stored_before = await _stored(database_url, group)

    code, out, err = await orderstate(
        live.settings, "rebuild", "--database-url", empty_url, timeout_s=180
    )
    assert code == 0, out + err
    assert "replayed" in out and "records/s" in out, out

    # Published nothing (no outbound event, no merge marker), moved no offset of the live group.
    assert await _ends(kafka_bootstrap, every_topic) == ends_before
    assert await _committed(kafka_bootstrap, group) == committed_before
    assert await _stored(database_url, group) == stored_before
    # Ready to take over: the live group continues where the live database stands, and the
    # relay has nothing to publish.
    assert await _stored(empty_url, group) == stored_before
    unsent = "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL"
    assert await _fetchval(empty_url, unsent) == 0
    assert await _fetchval(empty_url, "SELECT count(*) FROM outbox") > 1000
    # The API key works against the rebuilt database: carried over, hash and all.
    key_id = live.key.split("_")[1]
    select_key = "SELECT key_hash FROM api_keys WHERE key_id = $1"
    assert await _fetchval(empty_url, select_key, key_id) == await _fetchval(
        database_url, select_key, key_id
    )

    code, out, err = await orderstate(
        live.settings, "verify", "--live", database_url, "--rebuilt", empty_url
    )
    assert code == 0, out + err
    assert "the projections are equal" in out, out
    assert "applied the inbound topics up to the same offsets" in out, out

    # The tests' own reading of every table agrees with verify.
    left = await read_projection(database_url)
    right = await read_projection(empty_url)
    assert {"REST-0", "REST-1", "REST-2"} <= left.orders() and len(left.orders()) > _SIM.orders
    found = differences(
        type(left)(_without_rest_rejections(left.tables)),
        type(right)(_without_rest_rejections(right.tables)),
    )
    assert not found, "\n".join(found)
    rejected = await _rest_rejections(database_url)
    assert rejected and rejected == await _rest_rejections(empty_url)


async def test_verify_names_a_planted_difference(
    kafka_bootstrap: str, topics: TopicNames, database_url: str, empty_url: str
) -> None:
    live = await _live_projection(kafka_bootstrap, topics, database_url)
    code, out, err = await orderstate(
        live.settings, "rebuild", "--database-url", empty_url, timeout_s=180
    )
    assert code == 0, out + err
    conn = await asyncpg.connect(empty_url)
    try:
        await conn.execute(
            "UPDATE orders SET view = jsonb_set(view::jsonb, '{state}', '\"cancelled\"')::text "
            "WHERE shop_id = $1 AND order_id = $2",
            _REST_SHOP,
            "REST-2",
        )
        await conn.execute(
            "DELETE FROM order_state_history WHERE shop_id = $1 AND order_id = $2 AND seq = 1",
            _REST_SHOP,
            "REST-0",
        )
    finally:
        await conn.close()

    code, out, err = await orderstate(
        live.settings, "verify", "--live", database_url, "--rebuilt", empty_url
    )
    assert code == 1, out + err
    lines = out.splitlines()
    assert f"{_REST_SHOP}:REST-2" in lines, out
    assert "  view.state" in lines, out
    assert f"{_REST_SHOP}:REST-0" in lines, out
    assert "  history[1]" in lines, out
    assert "2 differ" in out, out

    # Leaving the parts out that differ makes them equal again.
    code, out, err = await orderstate(
        live.settings,
        "verify",
        "--live",
        database_url,
        "--rebuilt",
        empty_url,
        "--ignore",
        "view",
        "--ignore",
        "history",
    )
    assert code == 0, out + err


async def test_records_waiting_for_a_marker_are_left_for_the_worker_that_takes_over(
    kafka_bootstrap: str, topics: TopicNames, database_url: str, empty_url: str
) -> None:
    """No live worker has read these records, so no merge marker tells when the silent
    shipments partition stopped mattering: the rebuild decides nothing the log has not
    settled, and the worker pointed at the rebuilt database afterwards does."""
    settings = settings_for(kafka_bootstrap, database_url, topics)
    await produce(
        kafka_bootstrap,
        topics.orders,
        [record(created(order="ORD-W")), record(state("paid", order="ORD-W"))],
    )
    code, out, err = await orderstate(settings, "rebuild", "--database-url", empty_url)
    assert code == 0, out + err
    assert "waiting   2 records" in out, out
    count = "SELECT count(*) FROM orders"
    assert await _fetchval(empty_url, count) == 0

    taken_over = settings_for(kafka_bootstrap, empty_url, topics)
    async with running(taken_over):
        await wait_for(
            lambda: _fetchval(empty_url, "SELECT count(*) FROM orders WHERE state = 'paid'")
        )
    assert await _fetchval(database_url, count) == 0


async def test_a_rebuild_refuses_topics_that_no_longer_hold_their_beginning(
    kafka_bootstrap: str, topics: TopicNames, database_url: str, empty_url: str
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topics.shipments, b"x", key=f"k{n}".encode(), partition=4)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topics.shipments, 4): RecordsToDelete(3)})
    finally:
        await admin.close()

    code, out, err = await orderstate(settings, "rebuild", "--database-url", empty_url)
    assert code == 3, out + err
    assert f"{topics.shipments}[4] starts at offset 3" in err, err
    assert "retention.ms=-1" in err, err
    assert await _fetchval(empty_url, "SELECT count(*) FROM processed_events") == 0


async def test_a_rebuild_refuses_a_database_that_holds_orders(
    kafka_bootstrap: str, topics: TopicNames, database_url: str, empty_url: str
) -> None:
    settings = settings_for(kafka_bootstrap, empty_url, topics)
    conn = await asyncpg.connect(database_url)
    try:
        now = datetime.now(UTC)
        await conn.execute(
            "INSERT INTO orders (shop_id, order_id, order_date, state, version, created_at, "
            "updated_at, view) VALUES ('shop-1', 'ORD-1', $1, 'new', 1, $1, $1, '{}')",
            now,
        )
    finally:
        await conn.close()

    code, out, err = await orderstate(settings, "rebuild", "--database-url", database_url)
    assert code == 1, out + err
    assert "already holds orders" in err, err
    code, out, err = await orderstate(
        settings, "rebuild", "--database-url", database_url, "--resume"
    )
    assert code == 1, out + err
    assert "no rebuild began there" in err, err
    # Nor the live database itself, whatever it holds.
    code, out, err = await orderstate(settings, "rebuild", "--database-url", empty_url)
    assert code == 1, out + err
    assert "the live database" in err, err


async def _described(settings: Settings) -> list[str]:
    """The rebuild's retention warnings, once the broker describes the new topics (right
    after they are made it may answer "unknown topic" for a moment)."""
    async with asyncio.timeout(30):
        while True:
            warnings = await retention_warnings(settings)
            if not any("cannot be read" in w for w in warnings):
                return warnings
            await asyncio.sleep(0.2)


async def test_topics_create_keeps_the_inbound_topics_for_good(kafka_bootstrap: str) -> None:
    """`orderstate topics create` gives the inbound topics no retention; topics made without
    it keep the broker's default, and a rebuild warns about it."""
    names = unique_topics()
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_orders=names.orders,
        topic_shipments=names.shipments,
        topic_order_events=names.order_events,
        topic_rejected=names.rejected,
        topic_alerts=names.alerts,
        monitor_group=f"{names.orders}.monitor",
        database_url=SecretStr("postgresql://unused@127.0.0.1:9/unused"),
    )
    await create_topics(settings, partitions=2)
    try:
        assert await _described(settings) == []
    finally:
        await delete_topics(kafka_bootstrap, names.all, prefix=f"{names.orders}.monitor-")

    others = unique_topics()
    await kafka.create_topics(kafka_bootstrap, others.inbound, partitions=1)
    try:
        plain = settings.model_copy(
            update={"topic_orders": others.orders, "topic_shipments": others.shipments}
        )
        warnings = await _described(plain)
        assert any(w.startswith(f"{others.orders} has retention.ms=") for w in warnings), warnings
    finally:
        await delete_topics(kafka_bootstrap, others.inbound)
