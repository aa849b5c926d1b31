"""`orderstate backfill` on the real broker and server: the command as a process, the worker
and relay in the test's event loop, the REST API to read the result.

An import is a record on the inbound orders topic that the worker decides, so the tests look
in three places: the topic (what was appended, and nothing more on a re-run), PostgreSQL
through the API representation (what the worker made of it), and the outbound topic and
outbox (nothing without --emit, flagged events with it)."""

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstate.settings import Settings
from tests.support import databases
from tests.support.api import Api, api_for
from tests.support.backfill import ours
from tests.support.events import created, record, state
from tests.support.infra import Endpoints
from tests.support.kafka import TopicNames
from tests.support.pipeline import (
    consume_until,
    produce,
    running,
    settings_for,
    wait_for,
)
from tests.support.processes import orderstate
from tests.support.projection import caught_up, differences, read_projection

SHOP = "shop-1"


def seven_senders(order_id: str) -> dict[str, Any]:
    """An order as Seven Senders exports it: legacy names, no offsets, its carrier status."""
    return {
        "id": 4711,
        "shop_order_id": order_id,
        "shop_order_url": "https://shop.example.com",
        "shop_order_date": "2025-09-01 08:00:00",
        "language": ["de_DE"],
        "boarding_complete": True,
        "state": "completed",
        "order_tags": ["vip"],
        "shipments": [
            {
                "id": 99,
                "tracking_code": "00340434161234567890",
                "carrier": {"name": "dhl", "country": "DE"},
                "return_parcel": False,
                "status": "Delivered",
                "recipient_email": "someone@example.com",
            }
        ],
        "states_history": [
            {"state": "new", "datetime": "2025-09-01 08:00:00"},
            {"state": "paid", "datetime": "2025-09-01 08:05:00"},
            {"state": "shipped", "datetime": "2025-09-02 12:00:00"},
            {"state": "completed", "datetime": "2025-09-04 16:30:00"},
        ],
    }


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async for ready in api_for(settings):
        yield ready


def ndjson(path: Path, *lines: dict[str, Any] | str) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


async def backfill(settings: Settings, file: Path, *options: str) -> tuple[int, str, str]:
    return await orderstate(
        settings, "backfill", str(file), "--shop", SHOP, *options, timeout_s=180
    )


async def records_on(kafka: str, topic: str) -> int:
    """Offsets taken in the topic: records, and a transaction's commit markers."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(6)])
    finally:
        await consumer.stop()
    return sum(ends.values())


async def fetch(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def read_order(api: Api, order_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v2/orders/{order_id}", headers=await api.as_shop(SHOP))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def count(out: str, label: str) -> int:
    """A row of the summary table."""
    for line in out.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 2 and cells[0] == label:
            return int(cells[1])
    raise AssertionError(f"no row {label!r} in:\n{out}")


def history(order: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["state"], h["datetime"]) for h in order["states_history"]]


async def test_both_shapes_are_imported_with_their_history_times(
    settings: Settings, api: Api, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"), "", seven_senders("7S-2"))

    async with running(settings):
        code, out, err = await backfill(settings, file, "--wait")

    assert code == 0, out + err
    assert (count(out, "lines with an order"), count(out, "imported")) == (2, 2)
    web, seven = await read_order(api, "WEB-1"), await read_order(api, "7S-2")
    assert (web["state"], web["version"], web["boarding_complete"]) == ("shipped", 1, True)
    assert history(web) == [
        ("new", "2025-10-01T10:00:00Z"),
        ("paid", "2025-10-01T11:00:00Z"),
        ("shipped", "2025-10-02T09:00:00Z"),
    ]
    assert [(s["shipment_id"], s["status"], s["status_at"]) for s in web["shipments"]] == [
        ("WEB-1-S1", "in_transit", "2025-10-02T09:30:00Z")
    ]
    # Naive Seven Senders times are read in UTC (--time-zone); shop_order_* are its names.
    assert (seven["state"], seven["order_date"], seven["order_tags"]) == (
        "completed",
        "2025-09-01T08:00:00Z",
        {"vip": ""},
    )
    assert history(seven)[-1] == ("completed", "2025-09-04T16:30:00Z")
    assert [(s["shipment_id"], s["status"], s["carrier"]) for s in seven["shipments"]] == [
        ("00340434161234567890", "delivered", "dhl")
    ]
    # Recorded time is the import's, event time the file's.
    assert all(h["recorded_at"] > "2026" for h in web["states_history"])
    imported = await consume_until(kafka_bootstrap, topics.orders, lambda seen: len(seen) >= 2)
    assert sorted((p.key, p.type, p.headers["ce_source"]) for p in imported) == [
        (f"{SHOP}:7S-2", "order.imported", "orderstate/backfill"),
        (f"{SHOP}:WEB-1", "order.imported", "orderstate/backfill"),
    ]
    assert "someone@example.com" not in json.dumps([p.data for p in imported])


async def test_without_emit_nothing_goes_downstream_and_the_first_live_change_is_sequence_1(
    settings: Settings, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"))

    async with running(settings):
        code, out, err = await backfill(settings, file, "--wait")
        assert code == 0, out + err
        assert await fetch(settings, "SELECT 1 FROM outbox") == []
        assert await fetch(settings, "SELECT 1 FROM order_events") == []
        await produce(
            kafka_bootstrap,
            topics.orders,
            [record(state("returned", shop=SHOP, order="WEB-1"))],
        )
        out_events = await consume_until(
            kafka_bootstrap, topics.order_events, lambda seen: len(seen) >= 1
        )

    (live,) = out_events
    assert (live.type, live.headers["ce_sequence"]) == ("order.state_changed", "1")
    assert (live.data["from_state"], live.data["to_state"]) == ("shipped", "returned")
    assert "backfill" not in live.data


async def test_with_emit_the_events_are_published_flagged_as_backfill(
    settings: Settings, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"))

    async with running(settings):
        code, out, err = await backfill(settings, file, "--emit", "--wait")
        assert code == 0, out + err
        published = await consume_until(
            kafka_bootstrap, topics.order_events, lambda seen: len(seen) >= 2
        )

    assert [(p.type, p.headers["ce_sequence"], p.data["backfill"]) for p in published] == [
        ("order.state_changed", "1", True),
        ("order.boarding_completed", "2", True),
    ]
    assert (published[0].data["from_state"], published[0].data["to_state"]) == (None, "shipped")


async def test_a_second_run_of_the_same_file_changes_nothing_and_says_so(
    settings: Settings, api: Api, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"), seven_senders("7S-2"))
    async with running(settings):
        first, out, err = await backfill(settings, file, "--wait")
        assert first == 0, out + err
    # The worker is stopped: nothing but the backfill could append to the topic now.
    before = await records_on(kafka_bootstrap, topics.orders)
    orders_before = await fetch(settings, "SELECT order_id, view FROM orders ORDER BY 1")

    again, out, err = await backfill(settings, file, "--wait")

    assert again == 0, out + err
    assert "nothing to publish" in out
    assert (count(out, "already present"), count(out, "imported")) == (2, 0)
    assert await records_on(kafka_bootstrap, topics.orders) == before
    assert await fetch(settings, "SELECT order_id, view FROM orders ORDER BY 1") == orders_before
    assert (await read_order(api, "WEB-1"))["version"] == 1


async def test_one_bad_line_imports_nothing_and_names_its_line(
    settings: Settings, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    bad = ours("WEB-2")
    bad["states_history"][1]["state"] = "payed"
    file = ndjson(
        tmp_path / "orders.ndjson", ours("WEB-1"), bad, "{not json", ours("WEB-1"), ours("WEB-3")
    )

    code, out, err = await backfill(settings, file)

    assert code == 1, out + err
    assert "line 2 (order WEB-2): states_history.1.state: Input should be" in err
    assert "line 3: the line is not valid JSON" in err
    assert "line 4 (order WEB-1): order WEB-1 is also on line 1: one line per order" in err
    assert "3 of 5 lines are invalid: nothing was published" in err
    assert await records_on(kafka_bootstrap, topics.orders) == 0
    assert await fetch(settings, "SELECT 1 FROM orders") == []


async def test_an_order_the_shop_already_has_is_skipped_with_its_line(
    settings: Settings, api: Api, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"), ours("WEB-2"))
    async with running(settings):
        await produce(kafka_bootstrap, topics.orders, [record(created(shop=SHOP, order="WEB-1"))])
        await wait_for(lambda: fetch(settings, "SELECT 1 FROM orders WHERE order_id = 'WEB-1'"))

        code, out, err = await backfill(settings, file, "--wait")

    assert code == 3, out + err
    assert (
        "line 1: order WEB-1 skipped: the shop already has it (version 1, 'new'); an import "
        "never overwrites an order" in err
    )
    live, imported = await read_order(api, "WEB-1"), await read_order(api, "WEB-2")
    assert (live["state"], live["order_date"]) == ("new", "2026-03-02T09:00:00Z")
    assert imported["state"] == "shipped"


async def test_dry_run_checks_against_the_shop_and_publishes_nothing(
    settings: Settings, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"), ours("WEB-2"))

    code, out, err = await backfill(settings, file, "--dry-run")

    assert code == 0, out + err
    assert count(out, "would be imported") == 2
    assert await records_on(kafka_bootstrap, topics.orders) == 0


@pytest.fixture
async def second_database(endpoints: Endpoints, template_database: str) -> AsyncIterator[str]:
    name = await databases.clone_database(endpoints.database_url, template_database)
    yield databases.with_database(endpoints.database_url, name)
    await databases.drop_database(endpoints.database_url, name)


async def test_a_replay_of_the_inbound_topics_reproduces_the_imported_orders(
    settings: Settings,
    tmp_path: Path,
    kafka_bootstrap: str,
    topics: TopicNames,
    second_database: str,
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"), seven_senders("7S-2"))
    async with running(settings):
        code, out, err = await backfill(settings, file, "--wait")
    assert code == 0, out + err
    replay = settings_for(
        kafka_bootstrap, second_database, topics, consumer_group=f"{topics.orders}.replay"
    )

    async with running(replay, relays=0):
        await wait_for(
            lambda: caught_up(
                kafka_bootstrap, second_database, replay.consumer_group, topics.inbound
            ),
            timeout_s=120,
        )

    live = await read_projection(settings.database_url.get_secret_value())
    replayed = await read_projection(second_database)
    assert live.orders() == {"WEB-1", "7S-2"}
    assert differences(live, replayed) == []


async def test_postgresql_out_of_reach_is_exit_4_and_publishes_nothing(
    settings: Settings, tmp_path: Path, kafka_bootstrap: str, topics: TopicNames
) -> None:
    file = ndjson(tmp_path / "orders.ndjson", ours("WEB-1"))
    nowhere = settings_for(
        kafka_bootstrap, "postgresql://orderstate:orderstate@127.0.0.1:9/orderstate", topics
    )

    code, out, err = await backfill(nowhere, file)

    assert code == 4, out + err
    assert "cannot connect to PostgreSQL" in err and "nothing was published" in err
    assert await records_on(kafka_bootstrap, topics.orders) == 0
