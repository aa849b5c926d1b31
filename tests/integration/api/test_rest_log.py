"""Kafka holds every change: REST writes reach the inbound topic, are skipped live by the
worker, and a replay of the inbound topics into an empty database rebuilds the same order.
Rejected REST writes are kept (rejected_events, orderstate.rejected.v1) and logged too, so
the replay rejects them again: the rejections are part of "same log, same orders"."""

import json
from typing import Any

import asyncpg
import pytest

from orderstate.settings import Settings
from tests.support import databases
from tests.support.api import api_for, order_body
from tests.support.infra import Endpoints
from tests.support.kafka import TopicNames
from tests.support.pipeline import consume_until, running, settings_for, wait_for


@pytest.fixture
async def empty_database(endpoints: Endpoints, template_database: str):  # type: ignore[no-untyped-def]
    name = await databases.clone_database(endpoints.database_url, template_database)
    yield databases.with_database(endpoints.database_url, name)
    await databases.drop_database(endpoints.database_url, name)


async def _view(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        text = await conn.fetchval("SELECT view FROM orders WHERE order_id = 'R-1'")
        # Its entries, which the stored view only counts; recorded_at is the run's clock.
        history = await conn.fetch(
            "SELECT seq, state, occurred_at, occurred_offset_s, cause_event_id, late, location "
            "FROM order_state_history WHERE order_id = 'R-1' ORDER BY seq"
        )
    finally:
        await conn.close()
    view: dict[str, Any] = json.loads(text)
    for key in ("created_at", "updated_at"):
        view.pop(key)
    view["history"] = [tuple(r) for r in history]
    return view


async def _rejections(url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT order_id, reason FROM rejected_events ORDER BY id")
    finally:
        await conn.close()
    return [(r["order_id"], r["reason"]) for r in rows]


async def _processed(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM processed_events"))
    finally:
        await conn.close()


async def test_rest_writes_and_rejections_are_logged_skipped_live_and_replayed_alike(
    kafka_bootstrap: str, database_url: str, empty_database: str, topics: TopicNames
) -> None:
    live: Settings = settings_for(kafka_bootstrap, database_url, topics)
    async with running(live) as pipeline:
        async for api in api_for(live):
            headers = await api.as_shop("shop-r")
            await api.client.post("/v2/orders", json=order_body("R-1"), headers=headers)
            paid = {"order_id": "R-1", "state": "paid", "datetime": "2026-11-21T10:00:00Z"}
            await api.client.post("/v2/order-states", json=paid, headers=headers)
            refund = {"order_id": "R-1", "state": "refunded", "datetime": "2026-11-21T11:00:00Z"}
            rejected = await api.client.post("/v2/order-states", json=refund, headers=headers)
            assert rejected.status_code == 409
        logged = await consume_until(kafka_bootstrap, topics.orders, lambda s: len(s) >= 3)
        await wait_for(lambda: _worker_saw(pipeline.workers[0], 3))
        published = await consume_until(kafka_bootstrap, topics.rejected, lambda s: len(s) >= 1)
    assert [(p.type, p.headers["ce_source"], p.key, p.data.get("state")) for p in logged] == [
        ("order.created", "orderstate/api", "shop-r:R-1", None),
        ("order.state_changed", "orderstate/api", "shop-r:R-1", "paid"),
        ("order.state_changed", "orderstate/api", "shop-r:R-1", "refunded"),
    ]
    assert [p.data["reason"] for p in published] == ["refund_before_return_or_cancel"]
    # The worker met all three on the topic and decided none a second time.
    assert await _processed(database_url) == 3
    original = await _view(database_url)
    assert original["version"] == 2
    assert await _rejections(database_url) == [("R-1", "refund_before_return_or_cancel")]

    replay = settings_for(kafka_bootstrap, empty_database, topics, consumer_group="replay")
    async with running(replay, relays=0):
        await wait_for(lambda: _has_processed(empty_database, 3))
    rebuilt = await _view(empty_database)
    assert rebuilt == original
    assert await _rejections(empty_database) == await _rejections(database_url)


async def _worker_saw(worker: Any, count: int) -> bool:
    return bool(worker.events_processed >= count)


async def _has_processed(url: str, count: int) -> bool:
    return await _processed(url) >= count
