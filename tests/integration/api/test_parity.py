"""One scenario table, run through REST and through Kafka: same views, same reason codes."""

import functools
import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from orderstate.domain import PolicyBook
from orderstate.events.envelope import CloudEvent
from orderstate.projector.apply import apply_batch
from orderstate.settings import Settings
from tests.support.api import Api, api_for, order_body
from tests.support.events import incoming, record
from tests.support.kafka import TopicNames
from tests.support.pipeline import produce, running, settings_for, wait_for

Step = dict[str, Any]
_ITEM = {"item_id": "l2", "sku": "MUG", "quantity": 1, "unit_price": "7.50", "currency": "EUR"}


def _state(state: str, day: int = 21, **extra: Any) -> Step:
    return {"op": "state", "state": state, "at": f"2026-11-{day:02d}T10:00:00Z", **extra}


# name -> (steps, expected reason per step: None when accepted)
SCENARIOS: dict[str, tuple[list[Step], list[str | None]]] = {
    "happy_path": (
        [
            {"op": "create"},
            _state("paid"),
            _state("in_production", 22),
            _state("in_preparation", 23),
        ],
        [None, None, None, None],
    ),
    "cash_on_delivery_then_late_paid": (
        [{"op": "create"}, _state("in_preparation", 22), _state("paid", 21)],
        [None, None, None],
    ),
    "cancel_then_refund_without_payment": (
        [{"op": "create"}, _state("cancelled"), _state("refunded", 22)],
        [None, None, "refund_without_payment"],
    ),
    "shipped_cannot_cancel_but_returns_and_refunds": (
        [
            {"op": "create"},
            _state("paid"),
            {"op": "ship", "shipment_id": "S1"},
            _state("cancelled", 23),
            _state("returned", 24),
            _state("refunded", 25),
        ],
        [None, None, None, "cancel_after_shipment", None, None],
    ),
    "derived_and_early_states": (
        [{"op": "create"}, _state("shipped"), _state("returned"), _state("refunded")],
        [None, "state_not_settable", "return_without_shipment", "refund_before_return_or_cancel"],
    ),
    "duplicate_state_changes_nothing": (
        [{"op": "create"}, _state("paid"), _state("paid")],
        [None, None, None],
    ),
    "items": (
        [
            {"op": "create"},
            {"op": "item_add", "item": _ITEM},
            {"op": "item_add", "item": {**_ITEM, "quantity": 3}},
            {"op": "item_update", "item_id": "l9", "fields": {"quantity": 2}},
            {"op": "item_update", "item_id": "l2", "fields": {"status": "returned"}},
            {"op": "item_remove", "item_id": "l1"},
        ],
        [None, None, "item_exists", "item_not_found", None, None],
    ),
    "tags_and_boarding": (
        [
            {"op": "create"},
            {"op": "tags", "tags": {"vip": "yes"}, "merge": True},
            {"op": "tags", "tags": {"only": "this"}, "merge": False},
            {"op": "boarding", "value": True},
            _state("cancelled"),
            {"op": "boarding", "value": False},
        ],
        [None, None, None, None, None, "order_closed"],
    ),
    "version_conflict_and_update": (
        [
            {"op": "create"},
            {"op": "update", "fields": {"language": "en"}, "expected_version": 1},
            {"op": "update", "fields": {"language": "fr"}, "expected_version": 1},
        ],
        [None, None, "version_conflict"],
    ),
    "unknown_order_and_order_exists": (
        [_state("paid"), {"op": "create"}, {"op": "create", "language": "fr"}],
        ["unknown_order", None, "order_exists"],
    ),
}


def _event(step: Step, shop: str, order: str, n: int) -> CloudEvent:
    op = step["op"]
    if op == "create":
        body = order_body(order, language=step.get("language", "de"))
        type_name, data = "order.created", {k: v for k, v in body.items() if k != "order_id"}
    elif op == "state":
        type_name, data = "order.state_changed", {"state": step["state"], "occurred_at": step["at"]}
    elif op == "ship":
        type_name = "shipment.created"
        data = {"shipment_id": step["shipment_id"], "direction": "outbound"}
    elif op == "item_add":
        type_name, data = "order.item_added", dict(step["item"])
    elif op == "item_update":
        type_name, data = "order.item_updated", {"item_id": step["item_id"], **step["fields"]}
    elif op == "item_remove":
        type_name, data = "order.item_removed", {"item_id": step["item_id"]}
    elif op == "tags":
        type_name, data = "order.tags_set", {"order_tags": step["tags"], "merge": step["merge"]}
    elif op == "boarding":
        type_name, data = "order.boarding_completed", {"boarding_complete": step["value"]}
    else:
        type_name = "order.updated"
        data = {**step["fields"], "expected_version": step["expected_version"]}
    return CloudEvent(
        specversion="1.0",
        id=f"{shop}-{order}-{n}",
        source="https://shop.example.com",
        type=type_name,
        time=datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
        shopid=shop,
        orderid=order,
        data=data,
    )


async def _via_rest(api: Api, shop: str, order: str, steps: list[Step]) -> list[str | None]:
    headers = await api.as_shop(shop)
    codes: list[str | None] = []
    base = f"/v2/orders/{order}"
    for n, step in enumerate(steps):
        op = step["op"]
        if op == "ship":
            # Shipments are read-only over REST; they arrive as events, as from a warehouse.
            async with api.context.pool.acquire() as conn:
                await apply_batch(
                    conn,
                    [incoming(_event(step, shop, order, n))],
                    policies=PolicyBook(),
                    now=api.clock(),
                )
            codes.append(None)
            continue
        if op == "create":
            answer = await api.client.post(
                "/v2/orders",
                json=order_body(order, language=step.get("language", "de")),
                headers=headers,
            )
        elif op == "state":
            body = {"order_id": order, "state": step["state"], "datetime": step["at"]}
            answer = await api.client.post("/v2/order-states", json=body, headers=headers)
        elif op == "item_add":
            answer = await api.client.post(f"{base}/items", json=step["item"], headers=headers)
        elif op == "item_update":
            answer = await api.client.patch(
                f"{base}/items/{step['item_id']}", json=step["fields"], headers=headers
            )
        elif op == "item_remove":
            answer = await api.client.delete(f"{base}/items/{step['item_id']}", headers=headers)
        elif op == "tags":
            method = api.client.patch if step["merge"] else api.client.put
            answer = await method(
                f"{base}/tags", json={"order_tags": step["tags"]}, headers=headers
            )
        elif op == "boarding":
            answer = await api.client.put(
                base, json={"boarding_complete": step["value"]}, headers=headers
            )
        else:
            answer = await api.client.patch(
                base,
                json=step["fields"],
                headers={**headers, "If-Match": f'"{step["expected_version"]}"'},
            )
        codes.append(None if answer.status_code < 300 else answer.json()["code"])
    return codes


def _comparable(view_text: str, history: list[tuple[Any, ...]]) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(view_text)
    for key in ("shop_id", "created_at", "updated_at", "created_by"):
        view.pop(key)
    # The entries without recorded_at and cause_event_id, which differ between the paths.
    view["history"] = history
    return view


async def _views(url: str, shop: str) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT order_id, view FROM orders WHERE shop_id = $1", shop)
        entries = await conn.fetch(
            "SELECT order_id, seq, state, occurred_at, occurred_offset_s, late, location "
            "FROM order_state_history WHERE shop_id = $1 ORDER BY order_id, seq",
            shop,
        )
    finally:
        await conn.close()
    history: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for e in entries:
        history[e["order_id"]].append(tuple(e)[1:])
    return {r["order_id"]: _comparable(r["view"], history[r["order_id"]]) for r in rows}


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


async def test_rest_and_kafka_give_the_same_views_and_reasons(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, database_url: str
) -> None:
    rest_codes: dict[str, list[str | None]] = {}
    async for api in api_for(settings):
        for name, (steps, _) in SCENARIOS.items():
            rest_codes[name] = await _via_rest(api, "shop-rest", name.replace("_", "-"), steps)

    ids: dict[tuple[str, int], str] = {}
    async with running(settings):
        # Shipments go after the order events they depend on: two topics have no common order.
        for name, (steps, _) in SCENARIOS.items():
            for n, step in enumerate(steps):
                event = _event(step, "shop-kafka", name.replace("_", "-"), n)
                ids[(name, n)] = event.id
                topic = topics.shipments if step["op"] == "ship" else topics.orders
                await produce(kafka_bootstrap, topic, [record(event)])
                await wait_for(functools.partial(_processed, database_url, event.id))
    rejected = await _rejections(database_url)
    kafka_codes = {
        name: [rejected.get(ids[(name, n)]) for n in range(len(steps))]
        for name, (steps, _) in SCENARIOS.items()
    }

    expected = {name: reasons for name, (_, reasons) in SCENARIOS.items()}
    assert rest_codes == expected
    assert kafka_codes == expected
    assert await _views(database_url, "shop-rest") == await _views(database_url, "shop-kafka")


async def _processed(url: str, event_id: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM processed_events WHERE event_id = $1", event_id
            )
        )
    finally:
        await conn.close()


async def _rejections(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT event_id, reason FROM rejected_events")
    finally:
        await conn.close()
    return {r["event_id"]: r["reason"] for r in rows}
