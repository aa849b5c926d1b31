"""A worker killed with SIGKILL mid-load and restarted ends where an uninterrupted run ends."""

import asyncio
import json
import random
import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from orderstate.settings import Settings
from tests.support import databases
from tests.support.events import created, event, record, shipment, state
from tests.support.infra import Endpoints
from tests.support.kafka import TopicNames
from tests.support.outbox_text import OUTBOX
from tests.support.pipeline import produce, running, settings_for, wait_for
from tests.support.processes import start, terminate

ORDERS = 150


def _load() -> tuple[list[Any], list[Any]]:
    """Order events on one topic (their order is fixed per partition) plus shipments for
    orders that get no further order events, so no cross-topic race changes the outcome."""
    rng = random.Random(7)
    orders: list[Any] = []
    shipments: list[Any] = []
    path = ["paid", "in_production", "warehouse_handover", "in_preparation"]
    for n in range(ORDERS):
        oid = f"ORD-{n:04d}"
        orders.append(record(created(order=oid, order_tags={"n": str(n)})))
        if n % 3 == 0:
            shipments.append(record(shipment(f"S-{n}", order=oid)))
            continue
        for i, step in enumerate(path[: rng.randint(1, 4)]):
            orders.append(record(state(step, order=oid, minutes=i + 1)))
        if n % 5 == 0:
            orders.append(record(state("paid", order=oid, minutes=0.5)))  # late
        if n % 7 == 0:
            orders.append(record(state("refunded", order=oid, minutes=9)))  # rejected
        if n % 11 == 0:
            orders.append(orders[-1])  # redelivered
        orders.append(
            record(event("order.tags_set", {"order_tags": {"k": "v"}, "merge": True}, order=oid))
        )
    return orders, shipments


async def _snapshot(url: str) -> dict[str, list[Any]]:
    conn = await asyncpg.connect(url)
    try:
        views = []
        for (text,) in await conn.fetch("SELECT view::text FROM orders ORDER BY order_id"):
            view = json.loads(text)
            for key in ("created_at", "updated_at"):
                view.pop(key)
            views.append(view)
        history = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT order_id, seq, state, occurred_at, occurred_offset_s, cause_event_id, "
                "late FROM order_state_history ORDER BY order_id, seq"
            )
        ]
        outbox = []
        for r in await conn.fetch(
            f"SELECT topic_role, event_id, event::text FROM {OUTBOX} ORDER BY shop_id, order_id, id"  # noqa: S608 -- a fixed fragment
        ):
            ev = json.loads(r["event"])
            ev.pop("time")
            order = ev["data"].get("order")
            if order:
                order.pop("created_at")
                order.pop("updated_at")
            outbox.append((r["topic_role"], r["event_id"], ev))
        rejected = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT order_id, event_id, reason FROM rejected_events ORDER BY order_id, event_id"
            )
        ]
    finally:
        await conn.close()
    return {"views": views, "history": history, "outbox": outbox, "rejected": rejected}


async def _processed(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM processed_events"))
    finally:
        await conn.close()


@pytest.fixture
async def second_database(endpoints: Endpoints, template_database: str):  # type: ignore[no-untyped-def]
    name = await databases.clone_database(endpoints.database_url, template_database)
    yield databases.with_database(endpoints.database_url, name)
    await databases.drop_database(endpoints.database_url, name)


async def test_sigkill_mid_load_ends_identical_to_an_uninterrupted_run(
    kafka_bootstrap: str,
    database_url: str,
    second_database: str,
    topics: TopicNames,
    tmp_path: Path,
) -> None:
    orders, shipments = _load()
    unique = len({(k, v) for k, v, _ in orders + shipments})
    # The crashed worker sees two thirds of the orders before its kill and the rest after it:
    # a worker fast enough to apply everything produced before the kill still has work left,
    # so the restart always matters. Shipments go last, as in one upfront load.
    first, rest = orders[: 2 * len(orders) // 3], orders[2 * len(orders) // 3 :]
    await produce(kafka_bootstrap, topics.orders, first)

    crashed = settings_for(
        kafka_bootstrap, second_database, topics, consumer_group="crash", batch_max_events=20
    )
    log = tmp_path / "worker.log"
    worker = start("worker", crashed, log, ORDERSTATE_BATCH_MAX_EVENTS="20")
    await wait_for(lambda: _at_least(second_database, len(first) // 2), timeout_s=120)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=10) == -signal.SIGKILL

    await produce(kafka_bootstrap, topics.orders, rest)
    await produce(kafka_bootstrap, topics.shipments, shipments)
    worker = start("worker", crashed, log, ORDERSTATE_BATCH_MAX_EVENTS="20")
    await wait_for(lambda: _done(second_database, unique), timeout_s=120)
    code, took = await asyncio.to_thread(terminate, worker, within_s=10)
    assert code == 0, log.read_text()[-3000:]
    assert took < 10

    # The reference reads the same topics in one go, with no crash.
    reference: Settings = settings_for(kafka_bootstrap, database_url, topics, consumer_group="ref")
    async with running(reference, relays=0):
        await wait_for(lambda: _done(database_url, unique), timeout_s=120)
    expected = await _snapshot(database_url)

    actual = await _snapshot(second_database)
    assert actual["rejected"] == expected["rejected"]
    assert actual["history"] == expected["history"]
    assert actual["views"] == expected["views"]
    assert actual["outbox"] == expected["outbox"]
    assert len(expected["views"]) == ORDERS


async def _at_least(url: str, count: int) -> bool:
    return await _processed(url) >= count


async def _done(url: str, unique: int) -> bool:
    return await _processed(url) == unique
