"""Listing: every filter, ordering and pagination against a seeded dataset, literal ids."""

from typing import Any

import pytest
from starlette.requests import Request

from orderstate.api import reads
from orderstate.api.routes._common import DEEP_OFFSET, link_header
from tests.support.api import Api, order_body

# (order_id, order_date day, language, tags, then states after new, boarding)
_SEED: list[tuple[str, int, str, dict[str, str], list[str], bool]] = [
    ("O-01", 1, "de", {"channel": "web"}, [], False),
    ("O-02", 2, "en", {"channel": "app"}, ["paid"], False),
    ("O-03", 3, "de", {"channel": "web", "vip": "yes"}, ["paid", "in_preparation"], True),
    ("O-04", 4, "fr", {"channel": "web"}, ["cancelled"], False),
    ("O-05", 5, "de", {"channel": "app", "vip": "yes"}, ["paid"], True),
    ("O-06", 6, "en", {}, ["in_production"], False),
    ("O-07", 7, "de", {"channel": "web"}, ["paid", "cancelled"], False),
]


@pytest.fixture
async def seeded(api: Api) -> dict[str, str]:
    headers = await api.as_shop("shop-f")
    for order_id, day, language, tags, states, boarding in _SEED:
        body = order_body(
            order_id,
            order_date=f"2026-10-{day:02d}T08:00:00Z",
            language=language,
            order_tags=tags,
            boarding_complete=boarding,
        )
        assert (await api.client.post("/v2/orders", json=body, headers=headers)).status_code == 201
        for n, state in enumerate(states):
            change = {
                "order_id": order_id,
                "state": state,
                "datetime": f"2026-10-{day:02d}T1{n}:00:00Z",
            }
            answer = await api.client.post("/v2/order-states", json=change, headers=headers)
            assert answer.status_code == 201, answer.text
    # Another shop's orders must never show up.
    other = await api.as_shop("shop-g")
    await api.client.post("/v2/orders", json=order_body("G-1"), headers=other)
    return headers


async def _ids(api: Api, headers: dict[str, str], **params: Any) -> list[str]:
    answer = await api.client.get("/v2/orders", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return [o["order_id"] for o in answer.json()]


async def _every_order(api: Api, headers: dict[str, str], order_by: str) -> list[Any]:
    """The whole seeded list in this order, unfiltered: what a filtered list is checked against."""
    answer = await api.client.get("/v2/orders", params={"order_by": order_by}, headers=headers)
    assert answer.status_code == 200, answer.text
    orders: list[Any] = answer.json()
    return orders


async def test_filter_by_state(api: Api, seeded: dict[str, str]) -> None:
    assert await _ids(api, seeded, **{"filters[state]": "paid"}) == ["O-02", "O-05"]
    assert await _ids(api, seeded, **{"filters[state]": ["cancelled", "new"]}) == [
        "O-01",
        "O-04",
        "O-07",
    ]


async def test_filter_by_order_date_range_is_inclusive(api: Api, seeded: dict[str, str]) -> None:
    params = {
        "filters[order_date_from]": "2026-10-02T08:00:00Z",
        "filters[order_date_to]": "2026-10-04T08:00:00Z",
    }
    assert await _ids(api, seeded, **params) == ["O-02", "O-03", "O-04"]


async def test_filter_by_updated_at_range(api: Api, seeded: dict[str, str]) -> None:
    everything = (await api.client.get("/v2/orders", headers=seeded)).json()
    updated = {o["order_id"]: o["updated_at"] for o in everything}
    params = {
        "filters[updated_at_from]": updated["O-03"],
        "filters[updated_at_to]": updated["O-05"],
    }
    assert await _ids(api, seeded, **params) == ["O-03", "O-04", "O-05"]


async def test_filter_by_boarding_complete(api: Api, seeded: dict[str, str]) -> None:
    assert await _ids(api, seeded, **{"filters[boarding_complete]": "true"}) == ["O-03", "O-05"]


async def test_filter_by_tags_all_must_match(api: Api, seeded: dict[str, str]) -> None:
    assert await _ids(api, seeded, **{"filters[tag]": "vip:yes"}) == ["O-03", "O-05"]
    both = {"filters[tag]": ["vip:yes", "channel:web"]}
    assert await _ids(api, seeded, **both) == ["O-03"]
    # One key with two values: no order has both, so none matches (it once read as the last).
    either = {"filters[tag]": ["channel:web", "channel:app"]}
    answer = await api.client.get("/v2/orders", params=either, headers=seeded)
    assert (answer.json(), answer.headers["x-total-count"]) == ([], "0")
    again = {"filters[tag]": ["channel:app", "channel:app"]}
    assert await _ids(api, seeded, **again) == ["O-02", "O-05"]


async def test_filter_by_language(api: Api, seeded: dict[str, str]) -> None:
    assert await _ids(api, seeded, **{"filters[language]": "en"}) == ["O-02", "O-06"]


async def test_order_by_each_field_and_direction(api: Api, seeded: dict[str, str]) -> None:
    assert await _ids(api, seeded, order_by="-order_date", limit=3) == ["O-07", "O-06", "O-05"]
    # state sorts by name; order_id breaks ties.
    assert await _ids(api, seeded, order_by="state") == [
        "O-04",
        "O-07",
        "O-03",
        "O-06",
        "O-01",
        "O-02",
        "O-05",
    ]
    assert await _ids(api, seeded, order_by="-updated_at", limit=2) == ["O-07", "O-06"]


async def test_pagination_with_total_and_links(api: Api, seeded: dict[str, str]) -> None:
    answer = await api.client.get("/v2/orders", params={"limit": 3, "offset": 3}, headers=seeded)
    assert [o["order_id"] for o in answer.json()] == ["O-04", "O-05", "O-06"]
    assert answer.headers["x-total-count"] == "7"
    links = dict(
        (part.split('rel="')[1].rstrip('"'), part.split(">")[0].lstrip("<"))
        for part in answer.headers["link"].split(", ")
    )
    assert set(links) == {"first", "prev", "next", "last"}
    assert "offset=0" in links["first"] and "offset=0" in links["prev"]
    assert "offset=6" in links["next"] and "offset=6" in links["last"]
    last = await api.client.get(links["last"], headers=seeded)
    assert [o["order_id"] for o in last.json()] == ["O-07"]
    assert 'rel="next"' not in last.headers["link"]


async def test_limits_are_enforced(api: Api, seeded: dict[str, str]) -> None:
    default = await api.client.get("/v2/orders", headers=seeded)
    too_many = await api.client.get("/v2/orders", params={"limit": 501}, headers=seeded)
    bad_sort = await api.client.get("/v2/orders", params={"order_by": "sku"}, headers=seeded)
    assert len(default.json()) == 7
    assert (too_many.status_code, too_many.json()["code"]) == (422, "malformed")
    assert (bad_sort.status_code, bad_sort.json()["code"]) == (422, "malformed")


async def test_offset_is_bounded_and_no_link_points_past_the_bound(
    api: Api, seeded: dict[str, str]
) -> None:
    for path in ("/v2/orders", "/v2/shipments"):
        too_deep = await api.client.get(path, params={"offset": 10_001}, headers=seeded)
        assert (too_deep.status_code, too_deep.json()["code"]) == (422, "malformed"), path
        assert "query.offset" in too_deep.json()["detail"]
        deepest = await api.client.get(path, params={"offset": 10_000}, headers=seeded)
        assert deepest.status_code == 200, path


def test_links_of_a_list_longer_than_the_bound_stop_at_it() -> None:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "https",
            "server": ("api.example.com", 443),
            "path": "/v2/orders",
            "query_string": b"limit=500&offset=9500",
            "headers": [(b"host", b"api.example.com")],
        }
    )
    links = link_header(request, total=50_000, limit=500, offset=9_500)
    assert 'rel="last"' not in links
    assert "offset=10000" in links  # next: the deepest page that is served
    deepest = link_header(request, total=50_000, limit=500, offset=10_000)
    assert 'rel="next"' not in deepest and 'rel="last"' not in deepest
    # The alerts and an order's events serve offsets up to DEEP_OFFSET: their links go on.
    deep = link_header(request, total=50_000, limit=500, offset=10_000, max_offset=DEEP_OFFSET)
    assert 'offset=10500&limit=500>; rel="next"' in deep
    assert 'offset=49500&limit=500>; rel="last"' in deep


async def test_a_long_list_gets_an_estimated_total_unless_the_exact_one_is_asked_for(
    api: Api, seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api.context.pool.acquire() as conn:
        await conn.execute("ANALYZE orders")  # the planner's estimate of this shop: its 7
    exact_always = await api.client.get("/v2/orders", params={"limit": 2}, headers=seeded)
    assert exact_always.headers["x-total-count"] == "7"
    assert exact_always.headers["x-total-count-estimated"] == "false"

    monkeypatch.setattr(reads, "EXACT_COUNT_COST_UP_TO", 0.0)  # so no count is cheap
    estimated = await api.client.get("/v2/orders", params={"limit": 2}, headers=seeded)
    assert estimated.headers["x-total-count-estimated"] == "true"
    assert 2 <= int(estimated.headers["x-total-count"]) <= 20
    deep = await api.client.get("/v2/orders", params={"limit": 2, "offset": 5}, headers=seeded)
    assert int(deep.headers["x-total-count"]) >= 7  # never fewer than the orders seen

    asked: dict[str, str | int] = {"limit": 2, "total": "exact"}
    exact = await api.client.get("/v2/orders", params=asked, headers=seeded)
    assert exact.headers["x-total-count"] == "7"
    assert exact.headers["x-total-count-estimated"] == "false"
    assert "total=exact" in exact.headers["link"]  # the next pages keep asking for it

    # A list whose page is not full is counted from the page: 2 paid orders.
    paid = await api.client.get("/v2/orders", params={"filters[state]": "paid"}, headers=seeded)
    assert paid.headers["x-total-count"] == "2"
    assert paid.headers["x-total-count-estimated"] == "false"

    # A page that is not full ends the list, so its total is exact however long the list.
    whole = await api.client.get("/v2/orders", params={"limit": 10}, headers=seeded)
    last = await api.client.get("/v2/orders", params={"limit": 2, "offset": 6}, headers=seeded)
    for answer in (whole, last):
        assert answer.headers["x-total-count"] == "7"
        assert answer.headers["x-total-count-estimated"] == "false"
    past = await api.client.get("/v2/orders", params={"limit": 2, "offset": 9}, headers=seeded)
    assert (past.json(), past.headers["x-total-count-estimated"]) == ([], "true")

    wrong = await api.client.get("/v2/orders", params={"total": "some"}, headers=seeded)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "malformed")


async def test_a_full_page_links_to_the_next_when_the_estimate_is_too_low(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statistics taken before a bulk import put the estimate of a new tag at about one order.
    Pages of it must still lead on to the last order, not end at the first page."""
    headers = await api.as_shop("shop-e")
    for n in range(3):
        await api.client.post("/v2/orders", json=order_body(f"E-{n}"), headers=headers)
    async with api.context.pool.acquire() as conn:
        await conn.execute("ANALYZE orders")  # no order has the tag yet
    imported = [f"E-bf-{n}" for n in range(7)]
    for n, order_id in enumerate(imported):
        day = f"2026-11-{10 + n}T10:00:00Z"
        body = order_body(order_id, order_date=day, order_tags={"campaign": "bf"})
        assert (await api.client.post("/v2/orders", json=body, headers=headers)).status_code == 201
    monkeypatch.setattr(reads, "EXACT_COUNT_COST_UP_TO", 0.0)  # so no count is cheap

    seen: list[str] = []
    url: str | None = "/v2/orders?filters[tag]=campaign:bf&limit=2&order_by=order_date"
    while url is not None:
        page = await api.client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        seen += [o["order_id"] for o in page.json()]
        links = dict(
            (part.split(">")[1].split('"')[1], part.split(">")[0].strip(" <"))
            for part in page.headers["link"].split(",")
        )
        url = links.get("next")
        assert len(seen) <= len(imported), "the links went on past the end"
    assert seen == imported


@pytest.mark.parametrize(
    ("column", "order_by"),
    [
        *(("updated_at", o) for o in ("order_date", "-order_date", "state", "-state")),
        *(("order_date", o) for o in ("updated_at", "-updated_at", "state", "-state")),
    ],
)
async def test_a_time_range_sorted_by_another_column_keeps_the_order(
    api: Api, seeded: dict[str, str], column: str, order_by: str
) -> None:
    # A short list with a range on one time column sorted by another column is read through
    # the range, only its keys sorted by an expression and the page's views read after
    # (reads._short_page_sql): the same order and pages as without the range.
    everything = await _every_order(api, seeded, order_by)
    since = sorted(o[column] for o in everything)[2]
    expected = [o["order_id"] for o in everything if o[column] >= since]
    ranged = {f"filters[{column}_from]": since, "order_by": order_by}
    assert await _ids(api, seeded, **ranged) == expected
    assert await _ids(api, seeded, **ranged, limit=2, offset=1) == expected[1:3]


@pytest.mark.parametrize("order_by", ["state", "-state"])
async def test_several_states_sorted_by_state_page_in_state_then_id_order(
    api: Api, seeded: dict[str, str], order_by: str
) -> None:
    # Read one branch per state (reads._per_state_page_sql): the order of a plain sort.
    everything = await _every_order(api, seeded, order_by)
    chosen = {"paid", "cancelled", "in_production"}
    expected = [o["order_id"] for o in everything if o["state"] in chosen]
    assert len(expected) == 5
    states = {"filters[state]": [*sorted(chosen), "paid"], "order_by": order_by}
    assert await _ids(api, seeded, **states) == expected
    pages = [await _ids(api, seeded, **states, limit=2, offset=n) for n in (0, 2, 4, 6)]
    assert pages == [expected[0:2], expected[2:4], expected[4:5], []]
    with_tag = await _ids(api, seeded, **states, **{"filters[tag]": "channel:web"})
    assert with_tag == [i for i in expected if i in {"O-04", "O-07"}]
