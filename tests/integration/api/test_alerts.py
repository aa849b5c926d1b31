"""GET /v2/alerts and the open alerts in the order representation: what the monitor stored in
order_alerts, scoped to the caller's shop."""

from datetime import UTC, datetime

from orderstate.api import reads
from orderstate.domain import OrderState
from orderstate.monitor.store import AlertRow, write_alerts
from tests.support.api import Api, order_body

T0 = int(datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp() * 1000)
H = 3_600_000


def _alert(
    alert_id: str, order_id: str, rule: str, *, shop: str = "shop-a", cleared: bool = False
) -> AlertRow:
    return AlertRow(
        shop_id=shop,
        alert_id=alert_id,
        order_id=order_id,
        rule=rule,
        state="paid" if rule != "parked_too_long" else None,
        order_version=2,
        since_ms=T0,
        due_ms=T0 + 48 * H,
        raised_at_ms=T0 + 48 * H + int(alert_id[-1]),
        cleared_at_ms=T0 + 50 * H if cleared else None,
        cleared_because="moved_on" if cleared else None,
        updated_ms=T0 + 50 * H,
    )


async def _stored(api: Api) -> None:
    await write_alerts(
        api.context.pool,
        [
            _alert("a-1", "W-1", "state_deadline.paid"),
            _alert("a-2", "W-1", "order_delayed", cleared=True),
            _alert("a-3", "W-2", "state_deadline.paid"),
            _alert("a-4", "GHOST", "parked_too_long"),
            _alert("b-5", "W-1", "state_deadline.paid", shop="shop-b"),
        ],
    )


async def test_the_shops_alerts_newest_first_with_filters(api: Api) -> None:
    await _stored(api)
    headers = await api.as_shop("shop-a")
    answer = await api.client.get("/v2/alerts", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["X-Total-Count"] == "4"
    assert [a["id"] for a in answer.json()] == ["a-4", "a-3", "a-2", "a-1"]
    first = answer.json()[-1]
    assert first == {
        "id": "a-1",
        "rule": "state_deadline.paid",
        "status": "open",
        "order_id": "W-1",
        "order_iri": "/v2/orders/W-1",
        "state": "paid",
        "order_version": 2,
        "since": "2026-11-20T10:00:00Z",
        "deadline": "2026-11-22T10:00:00Z",
        "raised_at": "2026-11-22T10:00:00.001000Z",
        "cleared_at": None,
        "cleared_because": None,
    }

    async def ids(**params: str | int | list[str]) -> list[str]:
        got = await api.client.get("/v2/alerts", params=params, headers=headers)
        assert got.status_code == 200, got.text
        return [a["id"] for a in got.json()]

    assert await ids(**{"filters[status]": "open"}) == ["a-4", "a-3", "a-1"]
    assert await ids(**{"filters[status]": "cleared"}) == ["a-2"]
    assert await ids(**{"filters[rule]": "state_deadline.paid"}) == ["a-3", "a-1"]
    assert await ids(**{"filters[rule]": ["order_delayed", "parked_too_long"]}) == ["a-4", "a-2"]
    assert await ids(**{"filters[order_id]": "W-1", "order_by": "deadline"}) == ["a-1", "a-2"]
    assert await ids(limit=1, offset=1) == ["a-3"]


async def test_another_shops_alerts_are_not_listed(api: Api) -> None:
    await _stored(api)
    answer = await api.client.get("/v2/alerts", headers=await api.as_shop("shop-b"))
    assert [a["id"] for a in answer.json()] == ["b-5"]


async def test_filters_are_checked(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    bad_rule = await api.client.get("/v2/alerts", params={"filters[rule]": "late"}, headers=headers)
    assert (bad_rule.status_code, bad_rule.json()["code"]) == (422, "malformed")
    unknown = await api.client.get("/v2/alerts", params={"filters[shop]": "x"}, headers=headers)
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_parameter")
    assert (await api.client.get("/v2/alerts")).status_code == 401


async def test_an_order_shows_its_open_alerts(api: Api) -> None:
    headers = await api.as_shop("shop-a")
    for order_id in ("W-1", "W-3"):
        created = await api.client.post("/v2/orders", json=order_body(order_id), headers=headers)
        assert created.status_code == 201
        assert "alerts" not in created.json()
    await _stored(api)
    one = await api.client.get("/v2/orders/W-1", headers=headers)
    assert [(a["id"], a["rule"]) for a in one.json()["alerts"]] == [("a-1", "state_deadline.paid")]
    listed = await api.client.get("/v2/orders", headers=headers)
    assert {o["order_id"]: [a["id"] for a in o["alerts"]] for o in listed.json()} == {
        "W-1": ["a-1"],
        "W-3": [],
    }


async def test_the_orders_list_filtered_to_open_alerts_is_one_statement(api: Api) -> None:
    """The console's "open alerts" filter: orders of this shop with an open alert, whatever
    else filters them and however many there are (it was the first 5,000 alerted ids,
    alphabetically, taken before every other filter)."""
    headers = await api.as_shop("shop-a")
    for order_id in ("W-1", "W-2", "W-3"):
        body = order_body(order_id, language="fr" if order_id == "W-3" else "de")
        await api.client.post("/v2/orders", json=body, headers=headers)
    await _stored(api)  # W-1 and W-2 open (W-1's other one cleared); shop-b's W-1 elsewhere
    await write_alerts(api.context.pool, [_alert("a-6", "W-3", "boarding_open", cleared=True)])

    async def listed(**given: object) -> tuple[list[str], int]:
        filters = reads.OrderFilters(with_open_alerts=True, **given)  # type: ignore[arg-type]
        async with api.context.pool.acquire() as conn:
            views, total = await reads.list_orders(
                conn,
                "shop-a",
                filters,
                sort=reads.SortField.ORDER_DATE,
                descending=False,
                limit=10,
                offset=0,
            )
        return [v.order_id for v in views], total.count

    assert await listed() == (["W-1", "W-2"], 2)
    assert await listed(language="de") == (["W-1", "W-2"], 2)
    assert await listed(language="fr") == ([], 0)  # W-3's only alert is cleared
    assert await listed(states=[OrderState.PAID]) == ([], 0)
