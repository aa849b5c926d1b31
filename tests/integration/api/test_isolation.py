"""Every endpoint is scoped to the caller's shop: another shop's order is a 404, never data."""

import pytest

from tests.support.api import Api, order_body

_ITEM = {"item_id": "l9", "sku": "X", "quantity": 1}
_STATE = {"order_id": "A-1", "state": "paid", "datetime": "2026-11-20T11:00:00Z"}

# (method, path, json body) for every route that names an order.
_ROUTES = [
    ("GET", "/v2/orders/A-1", None),
    ("PATCH", "/v2/orders/A-1", {"language": "en"}),
    ("PUT", "/v2/orders/A-1", {"boarding_complete": True}),
    ("DELETE", "/v2/orders/A-1", None),
    ("GET", "/v2/orders/A-1/items", None),
    ("POST", "/v2/orders/A-1/items", _ITEM),
    ("GET", "/v2/orders/A-1/items/l1", None),
    ("PATCH", "/v2/orders/A-1/items/l1", {"quantity": 5}),
    ("PUT", "/v2/orders/A-1/items/l1", {"quantity": 5}),
    ("DELETE", "/v2/orders/A-1/items/l1", None),
    ("POST", "/v2/order-states", _STATE),
    ("GET", "/v2/orders/A-1/states", None),
    ("GET", "/v2/orders/A-1/tags", None),
    ("PUT", "/v2/orders/A-1/tags", {"order_tags": {"x": "y"}}),
    ("PATCH", "/v2/orders/A-1/tags", {"order_tags": {"x": "y"}}),
    ("GET", "/v2/orders/A-1/shipments", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), _ROUTES, ids=[f"{m} {p}" for m, p, _ in _ROUTES]
)
async def test_other_shops_order_is_not_found(
    api: Api, method: str, path: str, body: dict[str, object] | None
) -> None:
    owner = await api.as_shop("shop-a")
    stranger = await api.as_shop("shop-b")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=owner)
    before = (await api.client.get("/v2/orders/A-1", headers=owner)).json()

    answer = await api.client.request(method, path, json=body, headers=stranger)

    assert answer.status_code == 404
    assert answer.json()["code"] in {"not_found", "unknown_order"}
    assert "19.99" not in answer.text
    assert (await api.client.get("/v2/orders/A-1", headers=owner)).json() == before


async def test_lists_show_only_the_callers_orders(api: Api) -> None:
    shop_a = await api.as_shop("shop-a")
    shop_b = await api.as_shop("shop-b")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop_a)
    await api.client.post("/v2/orders", json=order_body("B-1"), headers=shop_b)
    # The same order id in two shops is two orders.
    await api.client.post("/v2/orders", json=order_body("SAME"), headers=shop_a)
    await api.client.post("/v2/orders", json=order_body("SAME", language="fr"), headers=shop_b)
    listed_a = await api.client.get("/v2/orders", headers=shop_a)
    listed_b = await api.client.get("/v2/orders", headers=shop_b)
    assert [o["order_id"] for o in listed_a.json()] == ["A-1", "SAME"]
    assert [o["order_id"] for o in listed_b.json()] == ["B-1", "SAME"]
    assert listed_a.headers["x-total-count"] == "2"
    assert (await api.client.get("/v2/orders/SAME", headers=shop_b)).json()["language"] == "fr"
