"""Orders, items, states, tags and shipments over REST, one behaviour per test."""

import asyncio

import asyncpg

from tests.support.api import Api, order_body
from tests.support.pipeline import wait_for


async def test_create_answers_201_with_location_and_etag(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    answer = await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    assert answer.status_code == 201
    assert answer.headers["location"] == "/v2/orders/A-1"
    assert answer.headers["etag"] == '"1"'
    body = answer.json()
    assert (body["order_id"], body["state"], body["version"]) == ("A-1", "new", 1)
    assert body["items"][0]["unit_price"] == "19.99"
    assert [h["state"] for h in body["states_history"]] == ["new"]


async def test_create_again_same_content_returns_it_other_content_is_409(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    same = await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    other = await api.client.post(
        "/v2/orders", json=order_body("A-1", language="fr"), headers=headers
    )
    assert same.status_code == 200
    assert same.json()["version"] == 1
    assert other.status_code == 409
    assert other.json()["code"] == "order_exists"
    assert other.json()["detail"] == (
        "Order A-1 already exists with different order fields; update it instead of creating "
        "it again."
    )


async def test_get_returns_history_items_shipments_and_etag(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    state = {"order_id": "A-1", "state": "paid", "datetime": "2026-11-20T11:00:00+01:00"}
    await api.client.post("/v2/order-states", json=state, headers=headers)
    answer = await api.client.get("/v2/orders/A-1", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"2"'
    body = answer.json()
    assert [(h["state"], h["datetime"], h["late"]) for h in body["states_history"]] == [
        ("new", "2026-11-20T10:00:00Z", False),
        # Times keep the offset the shop sent.
        ("paid", "2026-11-20T11:00:00+01:00", False),
    ]
    assert body["shipments"] == []


async def test_stale_if_match_is_412_version_conflict(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    ok = await api.client.patch(
        "/v2/orders/A-1", json={"language": "en"}, headers={**headers, "If-Match": '"1"'}
    )
    stale = await api.client.patch(
        "/v2/orders/A-1", json={"language": "fr"}, headers={**headers, "If-Match": '"1"'}
    )
    nonsense = await api.client.patch(
        "/v2/orders/A-1", json={"language": "fr"}, headers={**headers, "If-Match": "abc"}
    )
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'
    assert (stale.status_code, stale.json()["code"]) == (412, "version_conflict")
    assert stale.json()["detail"] == (
        "Order A-1 is at version 2, the change expected version 1; read the order again and retry."
    )
    assert (nonsense.status_code, nonsense.json()["code"]) == (412, "version_conflict")
    assert (await api.client.get("/v2/orders/A-1", headers=headers)).json()["language"] == "en"


async def test_a_stale_if_match_stops_every_post_that_changes_an_order(api: Api) -> None:
    # The README says writes honour If-Match: these three once took it and ignored it.
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    await api.client.patch("/v2/orders/A-1", json={"language": "en"}, headers=headers)
    stale = {**headers, "If-Match": '"1"'}
    state = {"order_id": "A-1", "state": "paid", "datetime": "2026-11-20T11:00:00+01:00"}
    answers = {
        "order-states": await api.client.post("/v2/order-states", json=state, headers=stale),
        "shipments": await api.client.post(
            "/v2/shipments", json={"order_id": "A-1", "shipment_id": "S-1"}, headers=stale
        ),
        "orders": await api.client.post("/v2/orders", json=order_body("A-1"), headers=stale),
    }
    assert {name: (a.status_code, a.json()["code"]) for name, a in answers.items()} == {
        name: (412, "version_conflict") for name in answers
    }
    order = (await api.client.get("/v2/orders/A-1", headers=headers)).json()
    assert (order["version"], order["state"], order["shipments"]) == (2, "new", [])
    current = {**headers, "If-Match": '"2"'}
    paid = await api.client.post("/v2/order-states", json=state, headers=current)
    assert (paid.status_code, paid.json()["state"]) == (201, "paid")


async def test_if_match_and_a_body_naming_another_version_are_refused(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    state = {
        "order_id": "A-1",
        "state": "paid",
        "datetime": "2026-11-20T11:00:00+01:00",
        "expected_version": 2,
    }
    both = await api.client.post(
        "/v2/order-states", json=state, headers={**headers, "If-Match": '"1"'}
    )
    assert (both.status_code, both.json()["code"]) == (422, "malformed")
    assert both.json()["detail"] == (
        "If-Match names version 1 and the body's expected_version 2; send one of them, or the "
        "same version in both"
    )
    agreeing = {**state, "expected_version": 1}
    same = await api.client.post(
        "/v2/order-states", json=agreeing, headers={**headers, "If-Match": '"1"'}
    )
    assert (same.status_code, same.json()["version"]) == (201, 2)


async def test_put_with_boarding_complete_like_seven_senders(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    answer = await api.client.put(
        "/v2/orders/A-1", json={"boarding_complete": True}, headers=headers
    )
    assert answer.status_code == 200
    assert answer.json()["boarding_complete"] is True
    assert answer.json()["language"] == "de"


async def test_delete_is_204_then_404(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    deleted = await api.client.delete("/v2/orders/A-1", headers=headers)
    gone = await api.client.get("/v2/orders/A-1", headers=headers)
    again = await api.client.delete("/v2/orders/A-1", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    assert (again.status_code, again.json()["code"]) == (404, "unknown_order")


async def test_late_state_answers_201_and_says_it_was_recorded_late(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    prep = {"order_id": "A-1", "state": "in_preparation", "datetime": "2026-11-21T10:00:00Z"}
    paid = {"shop_order_id": "A-1", "state": "paid", "datetime": "2026-11-20T12:00:00Z"}
    await api.client.post("/v2/order-states", json=prep, headers=headers)
    answer = await api.client.post("/v2/order-states", json=paid, headers=headers)
    assert answer.status_code == 201
    assert answer.headers["location"] == "/v2/orders/A-1"
    body = answer.json()
    assert (body["recorded_as"], body["state"], body["requested_state"]) == (
        "late",
        "in_preparation",
        "paid",
    )
    history = (await api.client.get("/v2/orders/A-1/states", headers=headers)).json()
    assert [(h["state"], h["late"]) for h in history] == [
        ("new", False),
        ("in_preparation", False),
        ("paid", True),
    ]


async def test_rejected_transition_is_409_with_the_reason_code(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    refund = {"order_id": "A-1", "state": "refunded", "datetime": "2026-11-21T10:00:00Z"}
    answer = await api.client.post("/v2/order-states", json=refund, headers=headers)
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "refund_before_return_or_cancel"
    assert answer.json()["type"] == "/v2/problems/refund_before_return_or_cancel"


async def test_items_can_be_listed_added_updated_and_removed(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    item = {"item_id": "l2", "sku": "MUG", "quantity": 1, "unit_price": "7.50", "currency": "EUR"}
    added = await api.client.post("/v2/orders/A-1/items", json=item, headers=headers)
    same = await api.client.post("/v2/orders/A-1/items", json=item, headers=headers)
    twice = await api.client.post(
        "/v2/orders/A-1/items", json={**item, "quantity": 3}, headers=headers
    )
    updated = await api.client.patch(
        "/v2/orders/A-1/items/l2", json={"status": "returned"}, headers=headers
    )
    missing = await api.client.patch(
        "/v2/orders/A-1/items/l9", json={"quantity": 2}, headers=headers
    )
    removed = await api.client.delete("/v2/orders/A-1/items/l1", headers=headers)
    listed = await api.client.get("/v2/orders/A-1/items", headers=headers)
    assert added.status_code == 201
    assert added.headers["location"] == "/v2/orders/A-1/items/l2"
    # The same item again added nothing: 200, as for orders and shipments, not 201.
    assert (same.status_code, same.headers["location"], same.headers["etag"]) == (
        200,
        "/v2/orders/A-1/items/l2",
        added.headers["etag"],
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "item_exists")
    assert (updated.status_code, updated.json()["status"]) == (200, "returned")
    assert (missing.status_code, missing.json()["code"]) == (409, "item_not_found")
    assert removed.status_code == 204
    assert [(i["item_id"], i["status"]) for i in listed.json()] == [("l2", "returned")]


async def test_tags_replace_and_merge(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    merged = await api.client.patch(
        "/v2/orders/A-1/tags", json={"order_tags": {"vip": "yes"}}, headers=headers
    )
    replaced = await api.client.put(
        "/v2/orders/A-1/tags", json={"order_tags": {"only": "this"}}, headers=headers
    )
    assert merged.json() == {"channel": "web", "vip": "yes"}
    assert replaced.json() == {"only": "this"}
    assert (await api.client.get("/v2/orders/A-1/tags", headers=headers)).json() == {"only": "this"}


async def test_shipments_are_readable_under_the_order(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    answer = await api.client.get("/v2/orders/A-1/shipments", headers=headers)
    assert (answer.status_code, answer.json()) == (200, [])
    post = await api.client.post("/v2/orders/A-1/shipments", json={}, headers=headers)
    assert (post.status_code, post.json()["code"]) == (405, "method_not_allowed")


async def test_invalid_input_is_422_naming_the_field(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    body = order_body("A-1")
    body["items"][0]["unit_price"] = 19.99
    answer = await api.client.post("/v2/orders", json=body, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["code"] == "malformed"
    assert answer.json()["errors"] == [
        {"field": "body.items.0.unit_price", "message": "Input should be a valid string"}
    ]


async def test_a_time_that_leaves_the_calendar_in_utc_is_422_not_500(api: Api) -> None:
    # 0001-01-01T00:00+01:00 is the year 0 in UTC: Python cannot represent it, and it used to
    # reach asyncpg and fail there as a 500.
    headers = await api.as_shop("shop-a")
    early = "0001-01-01T00:00:00+01:00"
    created = await api.client.post(
        "/v2/orders", json=order_body("A-1", promised_delivery_date=early), headers=headers
    )
    await api.client.post("/v2/orders", json=order_body("A-2"), headers=headers)
    state = await api.client.post(
        "/v2/order-states",
        json={"order_id": "A-2", "state": "paid", "datetime": "9999-12-31T23:30:00-01:00"},
        headers=headers,
    )
    listed = await api.client.get(
        "/v2/orders", params={"filters[order_date_from]": early}, headers=headers
    )
    for answer, field in (
        (created, "body.promised_delivery_date"),
        (state, "body.datetime"),
        (listed, "query.filters[order_date_from]"),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "malformed"
        assert [e["field"] for e in answer.json()["errors"]] == [field]
        assert "outside the years 1 to 9999 in UTC" in answer.json()["errors"][0]["message"]


async def test_oversized_body_is_413(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    huge = order_body("A-1", order_url="https://shop.example.com/" + "x" * (1024 * 1024))
    answer = await api.client.post("/v2/orders", json=huge, headers=headers)
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"


async def test_database_lost_mid_request_is_503_then_the_api_recovers(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    assert (await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)).is_success
    url = api.context.settings.database_url.get_secret_value()
    holder = await asyncpg.connect(url)
    killer = await asyncpg.connect(url)
    try:
        # Hold the order's row so the write below waits inside PostgreSQL ...
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM orders WHERE order_id = 'A-1' FOR UPDATE")
        change = asyncio.create_task(
            api.client.post(
                "/v2/order-states",
                json={"order_id": "A-1", "state": "paid", "datetime": "2026-11-20T11:00:00Z"},
                headers=headers,
            )
        )
        await wait_for(lambda: _waiting_on_lock(killer), timeout_s=10)
        # ... then the server ends the API's connections, as a failover or restart would.
        await killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1",
            holder.get_server_pid(),
        )
        answer = await change
        await lock.rollback()
    finally:
        await holder.close()
        await killer.close()

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "database_unavailable"
    # Nothing was applied, and the pool replaces the lost connections for the next request.
    order = await api.client.get("/v2/orders/A-1", headers=headers)
    assert order.status_code == 200
    assert order.json()["state"] == "new"


async def _waiting_on_lock(conn: asyncpg.Connection) -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)
