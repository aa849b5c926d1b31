"""Bodies an attacker or a broken client sends: every one is answered with a problem that has
a reason code, never a 5xx, and nothing is applied."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.api import Api, order_body

LIMIT = 1024 * 1024
ORDER = order_body("H-1")
STATE = {"order_id": "H-1", "state": "paid", "datetime": "2026-11-20T11:00:00Z"}
# Every route that takes a body, with a body it would accept.
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v2/orders", ORDER),
    ("PATCH", "/v2/orders/H-1", {"language": "en"}),
    ("PUT", "/v2/orders/H-1", {"boarding_complete": True}),
    ("POST", "/v2/orders/H-1/items", {"item_id": "l2", "sku": "S", "quantity": 1}),
    ("PATCH", "/v2/orders/H-1/items/l1", {"quantity": 3}),
    ("POST", "/v2/order-states", STATE),
    ("PUT", "/v2/orders/H-1/tags", {"order_tags": {"a": "b"}}),
    ("PATCH", "/v2/orders/H-1/tags", {"order_tags": {"a": "b"}}),
    ("POST", "/v2/shipments", {"order_id": "H-1", "shipment_id": "S-1"}),
    ("POST", "/v2/token", {"access_key": "osk_000000000000_x"}),
]
JSON = {"content-type": "application/json"}
HOSTILE: dict[str, bytes] = {
    "invalid UTF-8": b'{"order_id": "\xff\xfe"}',
    "UTF-8 encoded surrogate": '{"order_id": "\udc00"}'.encode("utf-8", "surrogatepass"),
    "UTF-16": '{"order_id": "H-1"}'.encode("utf-16"),
    "escaped lone surrogate in a value": b'{"order_id": "A\\ud800"}',
    "escaped lone surrogate in a name": b'{"order_id": "H-1", "\\udc00": 1}',
    "lone surrogate in a tag name": b'{"order_id": "H-1", "order_tags": {"\\ud800": 5}}',
    "broken JSON": b'{"order_id": "H-1",',
    "NaN": b'{"order_id": NaN}',
    "deep nesting": b'{"a": ' * 40 + b"1" + b"}" * 40,
    "not an object": b'["order_id"]',
    "empty": b"",
    "NUL": b'{"order_id": "H\\u0000"}',
}


@pytest.fixture
async def headers(api: Api) -> dict[str, str]:
    shop = await api.as_shop("shop-h", unknown_fields="refuse")
    created = await api.client.post("/v2/orders", json=ORDER, headers=shop)
    assert created.status_code == 201
    return shop


@pytest.mark.parametrize("kind", HOSTILE)
async def test_every_write_answers_a_hostile_body_with_a_coded_problem(
    api: Api, headers: dict[str, str], kind: str
) -> None:
    for method, path, _ in WRITES:
        answer = await api.client.request(
            method, path, content=HOSTILE[kind], headers={**headers, **JSON}
        )
        assert answer.status_code == 422, (kind, method, path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["code"] == "malformed", (kind, path)
        assert problem["type"] == "/v2/problems/malformed"
    view = (await api.client.get("/v2/orders/H-1", headers=headers)).json()
    assert view["version"] == 1


async def test_a_lone_surrogate_in_an_ignored_field_name_is_refused_too(api: Api) -> None:
    """A key that ignores unknown fields would have named it in a response header."""
    headers = await api.as_shop("shop-h")
    answer = await api.client.post(
        "/v2/orders", content=b'{"order_id": "H-2", "\\ud800x": 1}', headers={**headers, **JSON}
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "malformed")


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    body = b'{"order_id": "H-9", "pad": "' + b"x" * total + b'"}'
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413_sized_or_chunked(
    api: Api, headers: dict[str, str], chunked: bool
) -> None:
    for method, path, _ in WRITES:
        content: Any = (
            _chunks(LIMIT + 1)
            if chunked
            else b'{"order_id": "H-9", "pad": "' + b"x" * (LIMIT + 1) + b'"}'
        )
        answer = await api.client.request(method, path, content=content, headers=headers)
        assert answer.status_code == 413, (method, path, answer.text[:200])
        assert answer.json()["code"] == "payload_too_large"
    assert (await api.client.get("/v2/orders/H-9", headers=headers)).status_code == 404


async def test_a_chunked_body_under_the_limit_is_read_whole(
    api: Api, headers: dict[str, str]
) -> None:
    items = [
        {"item_id": f"l{n}", "sku": f"SKU-{n}-" + "x" * 100, "quantity": 1} for n in range(500)
    ]
    body = json.dumps(order_body("H-3", items=items)).encode()
    assert len(body) > 64 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    answer = await api.client.post("/v2/orders", content=chunks(), headers=headers)
    assert answer.status_code == 201, answer.text[:300]
    assert len(answer.json()["items"]) == 500
