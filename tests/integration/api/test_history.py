"""An order as of a moment, an order's events and the changes feed, over REST, on a real
database: exact past representations, paging, cursors, long poll and shop isolation."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg

from orderstate.monitor.store import AlertRow, write_alerts
from orderstate.projector.writes import BatchWrites, LogRow
from tests.support.api import Api, order_body
from tests.support.outbox_text import OUTBOX


async def _db_now(api: Api) -> datetime:
    """The database's clock, which recorded times are read from."""
    async with api.context.pool.acquire() as conn:
        moment: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return moment


async def _as_of(api: Api, headers: dict[str, str], order_id: str, moment: datetime) -> Any:
    return await api.client.get(
        f"/v2/orders/{order_id}", params={"as_of": moment.isoformat()}, headers=headers
    )


async def _state(api: Api, headers: dict[str, str], state: str, at: str) -> None:
    answer = await api.client.post(
        "/v2/order-states",
        json={"order_id": "A-1", "state": state, "datetime": at},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text


async def test_as_of_returns_the_order_exactly_as_it_was_read_then(api: Api) -> None:
    shop = await api.as_shop("shop-a")
    before_creation = await _db_now(api)
    seen: list[tuple[datetime, dict[str, Any]]] = []

    async def remember() -> None:
        current = await api.client.get("/v2/orders/A-1", headers=shop)
        seen.append((await _db_now(api), current.json()))

    await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop)
    await remember()
    await _state(api, shop, "paid", "2026-11-20T10:41:00Z")
    await remember()
    await _state(api, shop, "in_preparation", "2026-11-20T14:00:00Z")
    await remember()
    # Late: it happened at 12:00, before in_preparation, but orderstate learns of it now.
    await _state(api, shop, "in_production", "2026-11-20T12:00:00Z")
    await remember()

    for moment, expected in seen:
        answer = await _as_of(api, shop, "A-1", moment)
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
        assert answer.headers["etag"] == f'"{expected["version"]}"'
    states = [[h["state"] for h in body["states_history"]] for _, body in seen]
    assert states[2] == ["new", "paid", "in_preparation"]
    assert states[3] == ["new", "paid", "in_preparation", "in_production"]
    late = seen[3][1]["states_history"][3]
    assert late["late"] is True
    # Event time says it came before in_preparation; recorded time says it was learnt after.
    assert late["datetime"] < seen[3][1]["states_history"][2]["datetime"]
    assert late["recorded_at"] > seen[3][1]["states_history"][2]["recorded_at"]

    too_early = await _as_of(api, shop, "A-1", before_creation)
    assert too_early.status_code == 404
    assert too_early.json()["code"] == "not_yet_created"

    assert (await api.client.delete("/v2/orders/A-1", headers=shop)).status_code == 204
    deleted_at = await _db_now(api)
    gone = await _as_of(api, shop, "A-1", deleted_at)
    assert gone.status_code == 404
    assert gone.json()["code"] == "order_deleted"
    # Before the deletion it is still there, as it was.
    assert (await _as_of(api, shop, "A-1", seen[-1][0])).json() == seen[-1][1]

    await api.client.post("/v2/orders", json=order_body("A-1", language="fr"), headers=shop)
    again = await _as_of(api, shop, "A-1", await _db_now(api) + timedelta(days=1))
    assert again.status_code == 200
    assert again.json() == (await api.client.get("/v2/orders/A-1", headers=shop)).json()
    assert again.json()["language"] == "fr"
    assert (await _as_of(api, shop, "A-1", deleted_at)).json()["code"] == "order_deleted"


async def test_as_of_refuses_what_is_not_an_rfc_3339_time(api: Api) -> None:
    shop = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop)
    early = "0001-01-01T00:00:00+01:00"  # the year 0 in UTC
    for bad in ("yesterday", "2026-11-27T10:00:00", "2026-13-01T00:00:00Z", "", early):
        answer = await api.client.get("/v2/orders/A-1", params={"as_of": bad}, headers=shop)
        assert answer.status_code == 422, bad
        assert answer.json()["code"] == "malformed"
        assert answer.json()["errors"][0]["field"] == "query.as_of"
    # A '+' offset sent unencoded arrives as a space, and is read as the '+' it was.
    later = (await _db_now(api) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    answer = await api.client.get(f"/v2/orders/A-1?as_of={later}+00:00", headers=shop)
    assert answer.status_code == 200, answer.text


async def test_as_of_for_an_order_of_another_shop_or_none_is_not_found(api: Api) -> None:
    owner = await api.as_shop("shop-a")
    stranger = await api.as_shop("shop-b")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=owner)
    moment = await _db_now(api)
    assert (await _as_of(api, owner, "A-1", moment)).status_code == 200
    for order_id in ("A-1", "NOPE"):
        answer = await _as_of(api, stranger, order_id, moment)
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
        assert "19.99" not in answer.text


async def test_as_of_before_the_log_starts_says_the_history_is_not_kept(api: Api) -> None:
    shop = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop)
    moment = await _db_now(api)
    await _state(api, shop, "paid", "2026-11-20T10:41:00Z")
    # An order older than the log (created before migration 8, outbox rows since cleaned up).
    async with api.context.pool.acquire() as conn:
        await conn.execute("DELETE FROM order_events WHERE sequence = 1")
    answer = await _as_of(api, shop, "A-1", moment)
    assert answer.status_code == 404
    assert answer.json()["code"] == "history_not_kept"


async def test_an_orders_events_in_sequence_with_paging(api: Api) -> None:
    shop = await api.as_shop("shop-a")
    stranger = await api.as_shop("shop-b")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop)
    await _state(api, shop, "paid", "2026-11-20T10:41:00Z")
    await api.client.patch("/v2/orders/A-1", json={"language": "en"}, headers=shop)
    await api.client.post(
        "/v2/shipments",
        json={"order_id": "A-1", "shipment_id": "S-1", "carrier": "dhl"},
        headers=shop,
    )
    first = await api.client.get("/v2/orders/A-1/events?limit=2", headers=shop)
    assert first.status_code == 200, first.text
    total = int(first.headers["x-total-count"])
    # The shipment link ships the order: two events for one change.
    assert total == 5
    assert 'rel="next"' in first.headers["link"]
    rest = await api.client.get("/v2/orders/A-1/events?limit=2&offset=2", headers=shop)
    last = await api.client.get("/v2/orders/A-1/events?limit=2&offset=4", headers=shop)
    events = first.json() + rest.json() + last.json()
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
    assert [e["type"] for e in events] == [
        "order.state_changed",
        "order.state_changed",
        "order.updated",
        "order.shipment_linked",
        "order.state_changed",
    ]
    assert events[4]["event"]["data"]["order"]["state"] == "shipped"
    recorded = [e["recorded_at"] for e in events]
    assert recorded == sorted(recorded)
    async with api.context.pool.acquire() as conn:
        published = [
            json.loads(r["event"])
            for r in await conn.fetch(
                f"SELECT event FROM {OUTBOX} WHERE topic_role = 'order_events_out' ORDER BY id"  # noqa: S608 -- a fixed fragment
            )
        ]
    assert [e["event"] for e in events] == published

    for headers, order_id in ((stranger, "A-1"), (shop, "NOPE")):
        answer = await api.client.get(f"/v2/orders/{order_id}/events", headers=headers)
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"


async def _follow(api: Api, headers: dict[str, str], cursor: str | None, **params: Any) -> Any:
    query_params = {**params}
    if cursor is not None:
        query_params["after"] = cursor
    answer = await api.client.get("/v2/changes", params=query_params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_changes_feed_pages_by_cursor_and_is_scoped_to_the_shop(api: Api) -> None:
    shop_a = await api.as_shop("shop-a")
    shop_b = await api.as_shop("shop-b")
    for n in range(3):
        await api.client.post("/v2/orders", json=order_body(f"A-{n}"), headers=shop_a)
        await api.client.post("/v2/orders", json=order_body(f"B-{n}"), headers=shop_b)
    page = await _follow(api, shop_a, None, limit=2)
    assert [c["order_id"] for c in page["changes"]] == ["A-0", "A-1"]
    # The same cursor, the same next page.
    again = await _follow(api, shop_a, page["next"], limit=2)
    assert again == await _follow(api, shop_a, page["next"], limit=2)
    assert [c["order_id"] for c in again["changes"]] == ["A-2"]
    end = await _follow(api, shop_a, again["next"])
    assert end == {"changes": [], "next": again["next"]}
    other = await _follow(api, shop_b, None)
    assert [c["order_id"] for c in other["changes"]] == ["B-0", "B-1", "B-2"]
    assert all(c["event"]["shopid"] == "shop-b" for c in other["changes"])

    for bad in ("nonsense", "YzEuMS4y!", quote("c1.1.2")):
        answer = await api.client.get("/v2/changes", params={"after": bad}, headers=shop_a)
        assert answer.status_code == 400, bad
        assert answer.json()["code"] == "invalid_cursor"
    assert (await api.client.get("/v2/changes")).status_code == 401
    assert (await api.client.get("/v2/changes?wait=31", headers=shop_a)).status_code == 422


async def test_a_waiting_request_answers_when_a_change_commits(api: Api) -> None:
    shop = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-0"), headers=shop)
    cursor = (await _follow(api, shop, None))["next"]
    waiting = asyncio.create_task(_follow(api, shop, cursor, wait=20))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop)
    page = await asyncio.wait_for(waiting, timeout=20)
    # Had it not woken, it would have answered an empty page after 20 s.
    assert [c["order_id"] for c in page["changes"]] == ["A-1"]


async def test_a_row_that_commits_late_with_a_smaller_position_is_not_skipped(
    api: Api, database_url: str
) -> None:
    """Regression: a feed ordered by position alone served position 2 while position 1 was
    still uncommitted, and its follower never saw position 1."""
    shop = await api.as_shop("shop-a")
    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        slow, fast = first.transaction(), second.transaction()
        await slow.start()
        await fast.start()
        for conn, order_id in ((first, "SLOW"), (second, "FAST")):
            # The worker's own statement, with only a log row: the xid default is the point.
            writes = BatchWrites()
            writes.log.append(
                LogRow(
                    shop_id="shop-a",
                    order_id=order_id,
                    sequence=1,
                    event_id=f"id-{order_id}",
                    type="order.state_changed",
                    event_json=json.dumps({"orderid": order_id}),
                    history_len=1,
                )
            )
            await writes.flush(conn, now=datetime.now(UTC), consumer_group=None)
        await fast.commit()
        early = await _follow(api, shop, None)
        assert early["changes"] == [], "served a row while an older writer was in flight"
        await slow.commit()
    finally:
        await first.close()
        await second.close()
    seen: list[str] = []
    cursor = early["next"]
    while len(seen) < 2:
        page = await _follow(api, shop, cursor, wait=10)
        seen += [c["order_id"] for c in page["changes"]]
        cursor = page["next"]
    assert seen == ["SLOW", "FAST"]


async def test_concurrent_writers_give_every_order_its_events_in_sequence(api: Api) -> None:
    shop = await api.as_shop("shop-a")
    orders = [f"A-{n}" for n in range(6)]
    for order_id in orders:
        await api.client.post("/v2/orders", json=order_body(order_id), headers=shop)

    async def tag(order_id: str, n: int) -> None:
        answer = await api.client.patch(
            f"/v2/orders/{order_id}/tags", json={"order_tags": {"n": str(n)}}, headers=shop
        )
        assert answer.status_code == 200, answer.text

    await asyncio.gather(*(tag(o, n) for n in range(8) for o in orders))
    seen: list[tuple[str, int]] = []
    cursor = None
    while len(seen) < len(orders) * 9:
        page = await _follow(api, shop, cursor, limit=7, wait=5)
        seen += [(c["order_id"], c["sequence"]) for c in page["changes"]]
        cursor = page["next"]
    assert len(set(seen)) == len(seen)
    for order_id in orders:
        assert [s for o, s in seen if o == order_id] == list(range(1, 10))


async def test_as_of_shows_the_alerts_open_at_that_moment(api: Api) -> None:
    shop = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=shop)
    created_at = await _db_now(api)
    ms = int(created_at.timestamp() * 1000)
    hour = 3_600_000

    def alert(alert_id: str, raised_h: int, cleared_h: int | None) -> AlertRow:
        return AlertRow(
            shop_id="shop-a",
            alert_id=alert_id,
            order_id="A-1",
            rule="state_deadline.new",
            state="new",
            order_version=1,
            since_ms=ms,
            due_ms=ms + raised_h * hour,
            raised_at_ms=ms + raised_h * hour,
            cleared_at_ms=None if cleared_h is None else ms + cleared_h * hour,
            cleared_because=None if cleared_h is None else "moved_on",
            updated_ms=ms + (cleared_h or raised_h) * hour,
        )

    await write_alerts(api.context.pool, [alert("x-1", 1, 3), alert("x-2", 2, None)])

    async def open_at(hours: float) -> list[str]:
        answer = await _as_of(api, shop, "A-1", created_at + timedelta(hours=hours))
        assert answer.status_code == 200, answer.text
        return [a["id"] for a in answer.json()["alerts"]]

    assert await open_at(0.5) == []
    assert await open_at(1.5) == ["x-1"]
    assert await open_at(2.5) == ["x-1", "x-2"]
    assert await open_at(3.5) == ["x-2"]
