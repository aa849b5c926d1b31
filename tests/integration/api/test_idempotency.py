"""Idempotency-Key: a retry gets the first answer; another request under the key is 422."""

import asyncio
from datetime import timedelta

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


async def test_an_empty_or_unprintable_key_is_refused_and_nothing_applies(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    for key in ("", "has space", "x" * 256, "tab\tkey"):
        answer = await api.client.post(
            "/v2/orders", json=order_body("A-1"), headers={**headers, "Idempotency-Key": key}
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "malformed"), repr(key)
        assert answer.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert (await api.client.get("/v2/orders/A-1", headers=headers)).status_code == 404
    longest = {**headers, "Idempotency-Key": "~" * 255}
    assert (
        await api.client.post("/v2/orders", json=order_body("A-1"), headers=longest)
    ).status_code == 201


async def test_if_match_is_part_of_the_fingerprint(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    patch = {"language": "en"}
    keyed = {**headers, "Idempotency-Key": "patch-1"}
    first = await api.client.patch(
        "/v2/orders/A-1", json=patch, headers={**keyed, "If-Match": '"1"'}
    )
    other = await api.client.patch(
        "/v2/orders/A-1", json=patch, headers={**keyed, "If-Match": '"2"'}
    )
    assert first.status_code == 200
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


async def test_404_and_412_are_not_kept_so_a_retry_after_the_fix_applies(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    paid = {"order_id": "A-1", "state": "paid", "datetime": "2026-11-20T11:00:00Z"}
    keyed = {**headers, "Idempotency-Key": "pay-1"}
    missing = await api.client.post("/v2/order-states", json=paid, headers=keyed)
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_order")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    applied = await api.client.post("/v2/order-states", json=paid, headers=keyed)
    assert (applied.status_code, applied.json()["recorded_as"]) == (201, "applied")
    assert "idempotent-replayed" not in applied.headers

    stale = {**headers, "Idempotency-Key": "lang-1", "If-Match": '"1"'}
    conflict = await api.client.patch("/v2/orders/A-1", json={"language": "en"}, headers=stale)
    assert (conflict.status_code, conflict.json()["code"]) == (412, "version_conflict")
    again = await api.client.patch("/v2/orders/A-1", json={"language": "en"}, headers=stale)
    assert (again.status_code, "idempotent-replayed" in again.headers) == (412, False)


async def test_a_key_is_kept_for_the_retention_and_is_new_after_it(api: Api) -> None:
    headers = {**await api.as_shop("shop-a"), "Idempotency-Key": "k-1"}
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    api.clock.now += timedelta(hours=23)
    within = await api.client.post("/v2/orders", json=order_body("A-2"), headers=headers)
    assert within.json()["code"] == "idempotency_key_reused"
    api.clock.now += timedelta(hours=2)
    after = await api.client.post("/v2/orders", json=order_body("A-2"), headers=headers)
    assert (after.status_code, after.json()["order_id"]) == (201, "A-2")


async def test_concurrent_identical_requests_apply_once_and_the_others_replay(api: Api) -> None:
    headers = {**await api.as_shop("shop-a"), "Idempotency-Key": "burst-1"}
    answers = await asyncio.gather(
        *(api.client.post("/v2/orders", json=order_body("A-1"), headers=headers) for _ in range(6))
    )
    assert sorted(a.status_code for a in answers) == [201] * 6
    fresh = [a for a in answers if "idempotent-replayed" not in a.headers]
    assert len(fresh) == 1
    assert {a.text for a in answers} == {fresh[0].text}
    async with api.context.pool.acquire() as conn:
        history = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE shop_id = 'shop-a' AND order_id = 'A-1'"
        )
        version = await conn.fetchval(
            "SELECT version FROM orders WHERE shop_id = 'shop-a' AND order_id = 'A-1'"
        )
    assert version == 1
    # One order.created out, and the request's own change logged to the inbound topic once.
    assert history == 2
