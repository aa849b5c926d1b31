"""Idempotency-Key: a retry gets the first answer; another request under the key is 422."""

from tests.support.api import Api, order_body


async def test_same_key_same_body_replays_the_first_response(api: Api) -> None:
    headers = {**await api.as_shop("shop-a"), "Idempotency-Key": "k-1"}
    first = await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    again = await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == "/v2/orders/A-1"
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_retried_state_change_is_applied_once(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    paid = {"order_id": "A-1", "state": "paid", "datetime": "2026-11-20T11:00:00Z"}
    keyed = {**headers, "Idempotency-Key": "pay-A-1"}
    for _ in range(3):
        answer = await api.client.post("/v2/order-states", json=paid, headers=keyed)
        assert answer.status_code == 201
        assert answer.json()["recorded_as"] == "applied"
    assert (await api.client.get("/v2/orders/A-1", headers=headers)).json()["version"] == 2


async def test_same_key_other_body_is_422(api: Api) -> None:
    headers = {**await api.as_shop("shop-a"), "Idempotency-Key": "k-1"}
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    other = await api.client.post("/v2/orders", json=order_body("A-2"), headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    listed = await api.client.get("/v2/orders", headers={"API-KEY": headers["API-KEY"]})
    assert [o["order_id"] for o in listed.json()] == ["A-1"]


async def test_a_rejection_is_replayed_too(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    refund = {"order_id": "A-1", "state": "refunded", "datetime": "2026-11-20T11:00:00Z"}
    keyed = {**headers, "Idempotency-Key": "refund-1"}
    first = await api.client.post("/v2/order-states", json=refund, headers=keyed)
    again = await api.client.post("/v2/order-states", json=refund, headers=keyed)
    assert (first.status_code, again.status_code) == (409, 409)
    assert again.json() == first.json()


async def test_keys_are_per_shop(api: Api) -> None:
    shop_a = {**await api.as_shop("shop-a"), "Idempotency-Key": "shared"}
    shop_b = {**await api.as_shop("shop-b"), "Idempotency-Key": "shared"}
    a = await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop_a)
    b = await api.client.post("/v2/orders", json=order_body("B-1"), headers=shop_b)
    assert (a.status_code, b.status_code) == (201, 201)
    assert b.json()["order_id"] == "B-1"
