"""A follower of GET /v2/changes from the start sees every change of its shop once, each
order's in sequence, none skipped, while the worker and the relay are killed and restarted,
REST writes commit beside the worker's batches, and the API itself is restarted."""

import asyncio
import contextlib
import random
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support.api import Api, api_for, order_body
from tests.support.events import created, event, record, shipment, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import Published, consume_until, produce, settings_for
from tests.support.processes import start

ORDERS = 120
REST_ORDERS = 6


def _load(shop: str) -> list[Any]:
    rng = random.Random(shop)
    records: list[Any] = []
    for n in range(ORDERS):
        oid = f"ORD-{n:04d}"
        records.append(record(created(shop=shop, order=oid)))
        for i, step in enumerate(["paid", "in_production", "in_preparation"][: rng.randint(1, 3)]):
            records.append(record(state(step, shop=shop, order=oid, minutes=i + 1)))
        tags = {"order_tags": {"n": str(n)}, "merge": True}
        records.append(record(event("order.tags_set", tags, shop=shop, order=oid)))
    return records


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _api(settings: Settings) -> AsyncIterator[Api]:
    async for api in api_for(settings):
        yield api


class _Follower:
    def __init__(self) -> None:
        self.cursor: str | None = None
        self.seen: list[dict[str, Any]] = []
        # (cursor, the page it gave): asked again at the end, it must give the same.
        self.pages: list[tuple[str | None, list[str]]] = []

    async def step(self, api: Api, headers: dict[str, str]) -> None:
        params: dict[str, Any] = {"limit": 37, "wait": 1}
        if self.cursor is not None:
            params["after"] = self.cursor
        answer = await api.client.get("/v2/changes", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        if page["changes"]:
            self.pages.append((self.cursor, [c["event"]["id"] for c in page["changes"]]))
        self.seen += page["changes"]
        self.cursor = page["next"]

    async def ask_again(self, api: Api, headers: dict[str, str]) -> None:
        """Every cursor asked again gives the same events in the same order: the page it gave
        then, with more at its end if it was not full (more had committed since)."""
        for cursor, ids in self.pages:
            params: dict[str, str | int] = {"limit": 37}
            if cursor is not None:
                params["after"] = cursor
            again = await api.client.get("/v2/changes", params=params, headers=headers)
            assert [c["event"]["id"] for c in again.json()["changes"]][: len(ids)] == ids


class _Processes:
    """The worker and the relay as processes, killed and started again between phases."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for name in ("worker", "relay"):
            self.running[name] = start(
                name, self.settings, self.log, ORDERSTATE_BATCH_MAX_EVENTS="20"
            )

    def kill(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)


async def _phase(
    api_settings: Settings, follower: _Follower, phase: int, *, until: int, database_url: str
) -> int:
    """Follow the feed with a new API while REST writes commit beside the worker's batches,
    until the worker has applied ``until`` Kafka records; return how many it has."""
    async with _api(api_settings) as api:
        shop = await api.as_shop("shop-a")
        for n in range(REST_ORDERS):
            await api.client.post("/v2/orders", json=order_body(f"REST-{phase}-{n}"), headers=shop)
        rest = 0
        while True:
            await follower.step(api, shop)
            answer = await api.client.patch(
                f"/v2/orders/REST-{phase}-{rest % REST_ORDERS}/tags",
                json={"order_tags": {"r": str(rest)}},
                headers=shop,
            )
            assert answer.status_code == 200, answer.text
            rest += 1
            done = await _count(
                database_url,
                "SELECT count(*) FROM processed_events WHERE source <> 'orderstate/api'",
            )
            if done >= until:
                return done


async def test_a_follower_sees_every_change_once_in_order_across_restarts(
    kafka_bootstrap: str, database_url: str, topics: TopicNames, tmp_path: Path
) -> None:
    load = _load("shop-a") + _load("shop-b")
    # Shipments for orders that get no other shipment event: one per fifth order.
    shipments = [
        record(shipment(f"S-{n}", shop="shop-a", order=f"ORD-{n:04d}")) for n in range(0, ORDERS, 5)
    ]
    kafka_records = len(load) + len(shipments)
    # The load goes out in thirds, each after the restart before it: a fast worker that has
    # applied everything produced so far still has a third to apply after the restart, so the
    # kills always land between changes the follower has not yet seen.
    thirds = [load[: len(load) // 3], load[len(load) // 3 : 2 * len(load) // 3]]
    last = load[2 * len(load) // 3 :]
    api_settings = Settings(
        database_url=SecretStr(database_url), kafka_bootstrap_servers=kafka_bootstrap
    )
    processes = _Processes(
        settings_for(kafka_bootstrap, database_url, topics, batch_max_events=20),
        tmp_path / "processes.log",
    )
    follower = _Follower()
    processes.start()
    produced = 0
    try:
        for phase, part in enumerate(thirds):
            await produce(kafka_bootstrap, topics.orders, part)
            # Kill halfway through the part when the worker is slower than the follower,
            # after it otherwise.
            until = produced + len(part) // 2
            produced += len(part)
            await _phase(api_settings, follower, phase, until=until, database_url=database_url)
            processes.kill()
            processes.start()
        await produce(kafka_bootstrap, topics.orders, last)
        await produce(kafka_bootstrap, topics.shipments, shipments)
        await _phase(api_settings, follower, 2, until=kafka_records, database_url=database_url)
        expected = await _count(
            database_url, "SELECT count(*) FROM order_events WHERE shop_id = 'shop-a'"
        )
        async with _api(api_settings) as api:
            shop = await api.as_shop("shop-a")
            async with asyncio.timeout(60):
                while len(follower.seen) < expected:
                    await follower.step(api, shop)
            await follower.step(api, shop)
            await follower.ask_again(api, shop)
    finally:
        processes.stop()

    ids = [c["event"]["id"] for c in follower.seen]
    assert len(ids) == expected == len(set(ids))
    assert {c["event"]["shopid"] for c in follower.seen} == {"shop-a"}
    by_order: dict[str, list[int]] = {}
    for change in follower.seen:
        by_order.setdefault(change["order_id"], []).append(change["sequence"])
    for order_id, sequences in by_order.items():
        assert sequences == list(range(1, len(sequences) + 1)), order_id
    assert len(by_order) == ORDERS + 3 * REST_ORDERS

    conn = await asyncpg.connect(database_url)
    try:
        logged = [
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id FROM order_events WHERE shop_id = 'shop-a' ORDER BY xid, position"
            )
        ]
        total = await conn.fetchval("SELECT count(*) FROM order_events")
    finally:
        await conn.close()
    assert ids == logged

    def every_event(seen: list[Published]) -> bool:
        return len({p.id for p in seen}) >= int(total)

    # The relay, killed twice, published every logged event.
    published = await consume_until(kafka_bootstrap, topics.order_events, every_event)
    assert set(ids) <= {p.id for p in published if p.key.startswith("shop-a:")}
