"""Hostile records on the real broker, in front of a running worker: each one ends as
malformed or decided, and the worker keeps running and applies what comes after.

The same generator feeds bench/security.py, which sends 100,000 of them and measures the
worker's throughput before and after (bench/security-results.md)."""

import asyncio
import json
from collections import Counter

from aiokafka import AIOKafkaConsumer, TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seed_of
from prometheus_client import REGISTRY

from orderstate.kafka_client import expected_partition
from orderstate.projector.apply import OutcomeKind
from tests.support.hostile_records import KINDS, HostileRecord, hostile_records, valid_record
from tests.support.kafka import PARTITIONS, TopicNames
from tests.support.pipeline import produce, running, settings_for, wait_for

# About 20 s of the 60 s fuzzing budget of `make test`.
_RECORDS = 3000
# Kept below the broker's message.max.bytes (1 MiB), and small enough to be quick here.
_MAX_BYTES = 200_000


def generate(count: int, *, seed: int, max_bytes: int, shop: str) -> list[HostileRecord]:
    """``count`` hostile records, drawn by hypothesis (reproducible from ``seed``)."""
    drawn: list[HostileRecord] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_records(shop=shop, max_bytes=max_bytes))
    def draw(record: HostileRecord) -> None:
        drawn.append(record)

    seed_of(seed)(draw)()
    return drawn


async def end_offsets(kafka: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


def decided_so_far() -> int:
    """Inbound records the worker has finished with, merge markers aside (process-wide)."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name != "orderstate_events":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels["outcome"] != OutcomeKind.PASSED:
                total += sample.value
    return int(total)


async def test_hostile_records_are_all_accounted_for_and_the_worker_goes_on(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    records = generate(_RECORDS, seed=20261201, max_bytes=_MAX_BYTES, shop="fuzz-shop")
    kinds = Counter(r.kind for r in records)
    assert set(kinds) == set(KINDS), kinds
    settings = settings_for(kafka_bootstrap, database_url, topics)
    before = decided_so_far()
    async with running(settings) as run:
        await produce(kafka_bootstrap, topics.orders, [r.record for r in records])

        async def all_decided() -> bool:
            return decided_so_far() - before >= len(records)

        await wait_for(all_decided, timeout_s=120)
        assert decided_so_far() - before == len(records)
        assert not any(task.done() for task in run.tasks)
        # Still at work: orders that come after are applied.
        after = [valid_record("after-shop", f"AFTER-{n}", f"after-{n}") for n in range(50)]
        await produce(kafka_bootstrap, topics.orders, after)

        async def applied() -> bool:
            async with run.pool.acquire() as conn:
                count = await conn.fetchval(
                    "SELECT count(*) FROM orders WHERE shop_id = 'after-shop'"
                )
            return bool(count == 50)

        await wait_for(applied, timeout_s=60)


async def test_a_header_name_that_is_not_utf8_is_malformed_not_a_stall(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """Only a client that writes raw bytes can send one (kcat can; aiokafka cannot). aiokafka
    raises UnicodeDecodeError from getmany() for the whole fetch; the worker must store that
    one record as malformed at its own offset, and lose nothing around it: not the records
    before and after it in its partition, nor those other partitions gave up in the failed
    call (worker/undecodable.py)."""
    settings = settings_for(kafka_bootstrap, database_url, topics)
    target = expected_partition(b"shop-h:BAD", PARTITIONS)
    # Orders in the bad record's partition before and after it, and orders everywhere else.
    same = [
        n for n in range(2000) if expected_partition(f"shop-h:S-{n}".encode(), PARTITIONS) == target
    ][:40]
    before = [valid_record("shop-h", f"S-{n}", f"s-{n}") for n in same[:20]]
    after = [valid_record("shop-h", f"S-{n}", f"s-{n}") for n in same[20:]]
    elsewhere = [valid_record("shop-h", f"E-{n}", f"e-{n}") for n in range(200)]
    await produce(kafka_bootstrap, topics.orders, before + elsewhere)
    bad_offset = (await end_offsets(kafka_bootstrap, topics.orders))[target]
    key, value, headers = valid_record("shop-h", "BAD", "bad-1")
    assert key is not None
    flags = [b"-H" + name.encode() + b"=" + raw for name, raw in headers]
    kcat = await asyncio.create_subprocess_exec(
        "kcat",
        "-b",
        kafka_bootstrap,
        "-P",
        "-t",
        topics.orders,
        "-p",
        str(target),
        "-k",
        key,
        *flags,
        b"-Hx\xffy=1",
        stdin=asyncio.subprocess.PIPE,
    )
    await asyncio.wait_for(kcat.communicate(value), timeout=30)
    assert kcat.returncode == 0
    assert (await end_offsets(kafka_bootstrap, topics.orders))[target] == bad_offset + 1
    await produce(kafka_bootstrap, topics.orders, after)
    expected_orders = len(before) + len(after) + len(elsewhere)

    async with running(settings) as run:

        async def settled() -> bool:
            if any(t.done() for t in run.tasks):
                return True
            async with run.pool.acquire() as conn:
                orders = await conn.fetchval("SELECT count(*) FROM orders")
                rejected = await conn.fetchval("SELECT count(*) FROM rejected_events")
            return bool(orders == expected_orders and rejected >= 1)

        await wait_for(settled, timeout_s=60)
        assert not any(t.done() for t in run.tasks)
        async with run.pool.acquire() as conn:
            rows = await conn.fetch("SELECT reason, message, original FROM rejected_events")
            order_ids = {r["order_id"] for r in await conn.fetch("SELECT order_id FROM orders")}
    assert order_ids == {f"S-{n}" for n in same} | {f"E-{n}" for n in range(200)}
    assert len(rows) == 1, rows
    original = json.loads(rows[0]["original"])
    assert rows[0]["reason"] == "malformed"
    assert "header name is not valid UTF-8" in rows[0]["message"]
    assert (original["topic"], original["partition"], original["offset"]) == (
        topics.orders,
        target,
        bad_offset,
    )
