"""The infrastructure is real: a Kafka broker and a PostgreSQL server we did not fake."""

import asyncio
import shutil
import subprocess
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafka import TopicNames


async def test_topic_has_six_partitions(kafka_bootstrap: str, topics: TopicNames) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topics.orders])
    finally:
        await admin.close()
    assert described[0]["error_code"] == 0
    assert len(described[0]["partitions"]) == 6


async def _produce(bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for n in range(start, start + count):
            await producer.send_and_wait(
                topic,
                key=f"shop-1:ORD-{n % 4}".encode(),
                value=f"message {n}".encode(),
                headers=[("ce_id", f"evt-{n}".encode())],
            )
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, group: str, want: int) -> list[tuple[str, str, str]]:
    """Read ``want`` messages in a consumer group, committing each one manually."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: list[tuple[str, str, str]] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < want:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for record in records:
                        assert record.key is not None and record.value is not None
                        seen.append(
                            (
                                record.key.decode(),
                                record.value.decode(),
                                dict(record.headers)["ce_id"].decode(),
                            )
                        )
                    await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await consumer.stop()
    return seen


async def test_idempotent_producer_and_group_resume_from_committed_offset(
    kafka_bootstrap: str, topics: TopicNames
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    await _produce(kafka_bootstrap, topics.orders, 8)
    first = await _consume(kafka_bootstrap, topics.orders, group, 8)
    assert sorted(v for _, v, _ in first) == [f"message {n}" for n in range(8)]
    assert ("shop-1:ORD-1", "message 5", "evt-5") in first

    # A restarted member of the same group sees only what came after its commits.
    await _produce(kafka_bootstrap, topics.orders, 3, start=8)
    second = await _consume(kafka_bootstrap, topics.orders, group, 3)
    assert sorted(v for _, v, _ in second) == ["message 10", "message 8", "message 9"]


async def test_same_key_lands_on_one_partition(kafka_bootstrap: str, topics: TopicNames) -> None:
    await _produce(kafka_bootstrap, topics.orders, 12)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.orders, p) for p in range(6)]
        consumer.assign(partitions)
        keys_by_partition: dict[int, set[bytes]] = {}
        async with asyncio.timeout(30):
            total = 0
            while total < 12:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    total += len(records)
                    keys_by_partition.setdefault(tp.partition, set()).update(
                        r.key for r in records if r.key is not None
                    )
    finally:
        await consumer.stop()
    owners = [p for p, keys in keys_by_partition.items() if b"shop-1:ORD-1" in keys]
    assert len(owners) == 1


async def test_postgres_transaction_commits_and_rolls_back(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE probe (n int PRIMARY KEY)")
        async with conn.transaction():
            await conn.execute("INSERT INTO probe VALUES (1)")
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.execute("INSERT INTO probe VALUES (2)")
                await conn.execute("INSERT INTO probe VALUES (1)")
        assert [tuple(r) for r in await conn.fetch("SELECT n FROM probe ORDER BY n")] == [(1,)]
        assert (await conn.fetchval("SHOW server_version")).split(".")[0].isdigit()
    finally:
        await conn.close()


def test_kcat_round_trip(kafka_bootstrap: str, topics: TopicNames) -> None:
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat, "kcat is not installed: apt-get install kcat (`make prereqs` does it)"
    produced = subprocess.run(
        [
            kcat,
            "-b",
            kafka_bootstrap,
            "-P",
            "-t",
            topics.shipments,
            "-K",
            "|",
            "-H",
            "ce_id=kcat-1",
        ],
        input="shop-1:ORD-9|hello from kcat\n",
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run(
        [
            kcat,
            "-b",
            kafka_bootstrap,
            "-C",
            "-t",
            topics.shipments,
            "-c",
            "1",
            "-e",
            "-f",
            "%k|%s|%h\n",
        ],
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout == "shop-1:ORD-9|hello from kcat|ce_id=kcat-1\n"
