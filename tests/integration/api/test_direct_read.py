"""GET /v2/orders/{order_id} answered in front of FastAPI (api/direct_read.py): the same answer
as the route's, and every read that does not end in 200 left to the route."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Receive, Scope, Send

from orderstate.api.direct_read import DirectOrderRead
from orderstate.api.keys import revoke_key
from orderstate.monitor.store import AlertRow, write_alerts
from tests.support.api import Api, order_body

ROUTE = "/v2/orders/{order_id}"


class PassedOn:
    """Counts the requests the layer hands to FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def _layer(app: FastAPI) -> DirectOrderRead:
    if app.middleware_stack is None:
        # Built on the first request otherwise, as Starlette does.
        app.middleware_stack = app.build_middleware_stack()
    layer: Any = app.middleware_stack
    while not isinstance(layer, DirectOrderRead):
        layer = layer.app
    return layer


@pytest.fixture
async def passed_on(api: Api) -> AsyncIterator[PassedOn]:
    layer = _layer(api.app)
    spy = PassedOn(layer.app)
    layer.app = spy
    yield spy
    layer.app = spy.app


async def _order_with_everything(api: Api, headers: dict[str, str]) -> None:
    created = await api.client.post(
        "/v2/orders", json=order_body("D-1", order_tags={"channel": "web"}), headers=headers
    )
    assert created.status_code == 201
    state = {"order_id": "D-1", "state": "paid", "datetime": "2026-11-20T11:00:00Z"}
    assert (await api.client.post("/v2/order-states", json=state, headers=headers)).is_success
    await write_alerts(
        api.context.pool,
        [
            AlertRow(
                shop_id="shop-d",
                alert_id="a-1",
                order_id="D-1",
                rule="state_deadline.paid",
                state="paid",
                order_version=2,
                since_ms=1_763_632_800_000,
                due_ms=1_763_805_600_000,
                raised_at_ms=1_763_805_600_001,
                cleared_at_ms=None,
                cleared_because=None,
                updated_ms=1_763_805_600_001,
            )
        ],
    )


def _answer(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.items() if k != "x-request-id"]
    return response.status_code, headers, response.content


async def test_a_read_is_answered_in_front_of_fastapi_with_the_routes_answer(
    api: Api, passed_on: PassedOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await api.as_shop("shop-d")
    token = (await api.client.post("/v2/token", json={"access_key": key["API-KEY"]})).json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    await _order_with_everything(api, key)
    counted = REGISTRY.get_sample_value(
        "orderstate_http_requests_total", {"route": ROUTE, "method": "GET", "status": "200"}
    )
    passed_on.paths.clear()

    direct = [await api.client.get("/v2/orders/D-1", headers=h) for h in (key, bearer)]
    assert passed_on.paths == []
    assert (
        REGISTRY.get_sample_value(
            "orderstate_http_requests_total", {"route": ROUTE, "method": "GET", "status": "200"}
        )
        == (counted or 0) + 2
    )

    async def nothing(scope: Scope) -> None:
        return None

    monkeypatch.setattr(_layer(api.app), "_answer", nothing)
    routed = [await api.client.get("/v2/orders/D-1", headers=h) for h in (key, bearer)]
    assert passed_on.paths == ["/v2/orders/D-1"] * 2

    body = direct[0].json()
    assert (body["state"], body["version"], len(body["alerts"])) == ("paid", 2, 1)
    assert [_answer(r) for r in direct] == [_answer(r) for r in routed]


async def test_every_read_that_is_not_a_200_is_left_to_the_route(
    api: Api, passed_on: PassedOn
) -> None:
    headers = await api.as_shop("shop-d")
    other = await api.as_shop("shop-e")
    revoked = await api.key("shop-d")
    # The same key id with another secret: the statement that checks the key and reads the
    # order must compare the whole key's hash, not the id alone.
    prefix, key_id, secret = headers["API-KEY"].split("_", 2)
    forged = f"{prefix}_{key_id}_{secret[::-1]}"
    # A token stays well formed after its key is revoked; the read must still refuse it.
    revoked_later = await api.key("shop-d")
    token = await api.client.post("/v2/token", json={"access_key": revoked_later})
    stale_bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    async with api.context.pool.acquire() as conn:
        for gone in (revoked, revoked_later):
            await revoke_key(conn, shop_id="shop-d", key_id=gone.split("_")[1], now=api.clock())
    assert (await api.client.post("/v2/orders", json=order_body("D-1"), headers=headers)).is_success
    passed_on.paths.clear()

    cases = [
        ("/v2/orders/NOPE", headers, 404, "not_found"),
        ("/v2/orders/D-1", other, 404, "not_found"),
        ("/v2/orders/D-1", {"API-KEY": revoked}, 401, "unauthorized"),
        ("/v2/orders/D-1", {"API-KEY": forged}, 401, "unauthorized"),
        ("/v2/orders/D-1", stale_bearer, 401, "unauthorized"),
        ("/v2/orders/D-1", {}, 401, "unauthorized"),
        ("/v2/orders/D%001", headers, 422, "malformed"),
        ("/v2/orders/D-1?limit=3", headers, 400, "unknown_parameter"),
    ]
    for path, given, status, code in cases:
        answer = await api.client.get(path, headers=given)
        assert (answer.status_code, answer.json()["code"]) == (status, code), path
    as_of = await api.client.get(
        "/v2/orders/D-1", params={"as_of": "2030-01-01T00:00:00Z"}, headers=headers
    )
    assert (as_of.status_code, as_of.json()["order_id"]) == (200, "D-1")
    assert len(passed_on.paths) == len(cases) + 1


async def test_a_read_that_meets_a_database_outage_is_the_apis_503(
    api: Api, passed_on: PassedOn
) -> None:
    headers = await api.as_shop("shop-d")
    passed_on.paths.clear()
    await api.context.pool.close()

    answer = await api.client.get("/v2/orders/D-1", headers=headers)

    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")
    assert answer.json()["code"] == "database_unavailable"
    assert passed_on.paths == []


def _leaves(routes: list[Any]) -> Iterator[Any]:
    # FastAPI keeps each included router whole, behind a wrapper that holds it.
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _leaves(inner.routes) if inner is not None else [route]


def test_no_other_route_answers_a_get_that_looks_like_an_order_read(api: Api) -> None:
    """The layer answers every GET its route's pattern matches. Another GET route whose path
    the pattern also matches (say /v2/orders/export) would be shadowed by it."""
    order_read = _layer(api.app).route
    matching = [
        route.path
        for route in _leaves(api.app.router.routes)
        if "GET" in getattr(route, "methods", ()) and order_read.path_regex.match(route.path)
    ]
    assert matching == [ROUTE]


async def test_reads_after_the_server_ended_the_connections_are_never_a_500(
    api: Api, passed_on: PassedOn
) -> None:
    """A failover or restart ends the pool's connections under it: a read is then answered
    with the order or with the 503 problem, and the pool recovers for the next ones."""
    headers = await api.as_shop("shop-d")
    assert (await api.client.post("/v2/orders", json=order_body("D-1"), headers=headers)).is_success
    url = api.context.settings.database_url.get_secret_value()
    passed_on.paths.clear()
    for _ in range(3):
        killer = await asyncpg.connect(url)
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await killer.close()
        statuses = []
        # Each dead connection the pool hands out costs one read; the pool has at most
        # ORDERSTATE_DATABASE_POOL_SIZE of them.
        for _ in range(api.context.settings.database_pool_size + 1):
            answer = await api.client.get("/v2/orders/D-1", headers=headers)
            statuses.append(answer.status_code)
            assert answer.status_code in {200, 503}, answer.text
            if answer.status_code == 200:
                break
        assert statuses[-1] == 200, statuses
    assert passed_on.paths == []
