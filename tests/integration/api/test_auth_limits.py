"""Credentials are checked without the database where they can be, and failed attempts are
bounded per client address and per API key id (429 with Retry-After)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import SecretStr

from orderstate.api import deps
from orderstate.api.app import create_api
from orderstate.api.credential_gate import PUBLIC_PATHS
from orderstate.api.tokens import issue_token
from orderstate.settings import Settings
from tests.support.api import Api, api_for

LIMIT = 3
# The ASGI test client connects from 127.0.0.1; as a trusted proxy it may name other clients.
PROXY = "127.0.0.1"


@pytest.fixture
async def limited(database_url: str, kafka_bootstrap: str) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=SecretStr(database_url),
        kafka_bootstrap_servers=kafka_bootstrap,
        api_auth_failures_per_minute=LIMIT,
        api_trusted_proxies=PROXY,
    )
    async for ready in api_for(settings):
        yield ready


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_bad_tokens_and_malformed_keys_are_refused_without_the_database(api: Api) -> None:
    """Every pool connection is taken: a check that needed one would wait, not answer 401."""
    forged, _ = issue_token(
        shop_id="shop-a",
        key_id="000000000000",
        secret="not-the-server-secret-but-32-bytes-long",
        now=datetime.now(UTC),
        ttl=timedelta(hours=1),
    )
    held = [await api.context.pool.acquire() for _ in range(api.context.pool.get_max_size())]
    try:
        async with asyncio.timeout(5):
            answers = [
                await api.client.get("/v2/orders", headers={"Authorization": f"Bearer {forged}"}),
                await api.client.get("/v2/orders", headers={"Authorization": "Bearer x.y.z"}),
                await api.client.get("/v2/orders", headers={"Authorization": "Basic abc"}),
                await api.client.get("/v2/orders", headers={"API-KEY": "not-a-key"}),
                await api.client.get("/v2/orders"),
                await api.client.post("/v2/token", json={"access_key": "wrong"}),
            ]
    finally:
        for conn in held:
            await api.context.pool.release(conn)
    assert [a.status_code for a in answers] == [401] * 6
    assert {a.json()["code"] for a in answers} == {"unauthorized"}


async def test_an_address_over_the_limit_gets_429_then_good_credentials_work_again(
    limited: Api,
) -> None:
    key = await limited.key("shop-a")
    for _ in range(LIMIT):
        bad = await limited.client.get(
            "/v2/orders", headers={"API-KEY": "osk_000000000000_wrong", **_from("203.0.113.7")}
        )
        assert bad.status_code == 401
    throttled = await limited.client.get(
        "/v2/orders", headers={"API-KEY": key, **_from("203.0.113.7")}
    )
    assert (throttled.status_code, throttled.json()["code"]) == (429, "too_many_requests")
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    token = await limited.client.post(
        "/v2/token", json={"access_key": key}, headers=_from("203.0.113.7")
    )
    assert token.status_code == 429
    # Another client is not affected.
    other = await limited.client.get(
        "/v2/orders", headers={"API-KEY": key, **_from("198.51.100.1")}
    )
    assert other.status_code == 200


async def test_a_key_id_over_the_limit_gets_429_from_any_address(limited: Api) -> None:
    key = await limited.key("shop-a")
    key_id = key.split("_")[1]
    for n in range(LIMIT):
        wrong = await limited.client.post(
            "/v2/token",
            json={"access_key": f"osk_{key_id}_guess{n}"},
            headers=_from(f"198.51.100.{n + 1}"),
        )
        assert wrong.status_code == 401
    again = await limited.client.get("/v2/orders", headers={"API-KEY": key, **_from("192.0.2.9")})
    assert (again.status_code, again.json()["code"]) == (429, "too_many_requests")
    assert "API key id" in again.json()["detail"]
    other_key = await limited.key("shop-a")
    fine = await limited.client.get(
        "/v2/orders", headers={"API-KEY": other_key, **_from("192.0.2.9")}
    )
    assert fine.status_code == 200


async def test_without_a_trusted_proxy_x_forwarded_for_changes_nothing(
    database_url: str, kafka_bootstrap: str
) -> None:
    settings = Settings(
        database_url=SecretStr(database_url),
        kafka_bootstrap_servers=kafka_bootstrap,
        api_auth_failures_per_minute=LIMIT,
    )
    async for api in api_for(settings):
        for n in range(LIMIT):
            await api.client.get("/v2/orders", headers={"API-KEY": "x", **_from(f"192.0.2.{n}")})
        spoofed = await api.client.get(
            "/v2/orders", headers={"API-KEY": "x", **_from("192.0.2.200")}
        )
        assert spoofed.status_code == 429


async def test_tokens_of_a_key_under_attack_keep_working(limited: Api) -> None:
    """Wrong secrets for a key id lock that key id out, not the tokens already issued for it:
    a flood must not take a bearer client down with it."""
    key = await limited.key("shop-a")
    token = (await limited.client.post("/v2/token", json={"access_key": key})).json()["token"]
    key_id = key.split("_")[1]
    for n in range(LIMIT + 2):
        await limited.client.get(
            "/v2/orders", headers={"API-KEY": f"osk_{key_id}_x{n}", **_from(f"198.51.100.{n}")}
        )
    answer = await limited.client.get(
        "/v2/orders", headers={"Authorization": f"Bearer {token}", **_from("192.0.2.1")}
    )
    assert answer.status_code == 200


async def test_bad_credentials_are_refused_before_routing(api: Api) -> None:
    """The credential gate answers before the router: a refused request costs no routing or
    dependency resolution. Seen from outside: a path no route has still answers 401 for a
    bad token or key, where the router would have answered 404."""
    bad = [
        {"Authorization": "Bearer x.y.z"},
        {"Authorization": "Basic abc"},
        {"API-KEY": "not-a-key"},
    ]
    answers = [await api.client.get("/v2/no-such-route", headers=h) for h in bad]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    assert [a.json()["instance"] for a in answers] == ["/v2/no-such-route"] * 3
    # Without credentials the router decides, as before.
    assert (await api.client.get("/v2/no-such-route")).status_code == 404


async def test_public_pages_ignore_credentials(api: Api) -> None:
    """The token exchange, the problem pages and the API's documents take no credentials,
    so bad ones sent along are not refused there."""
    headers = {"Authorization": "Bearer x.y.z"}
    assert (await api.client.get("/v2/openapi.json", headers=headers)).status_code == 200
    page = await api.client.get("/v2/problems/unauthorized", headers=headers)
    assert page.status_code == 200
    token = await api.client.post("/v2/token", json={"access_key": "wrong"}, headers=headers)
    # Refused for its body's key (401 from the route), not for the header.
    assert token.status_code == 401
    assert "access_key" in token.json()["detail"] or "API key" in token.json()["detail"]


async def test_over_the_limit_the_gate_answers_429(limited: Api) -> None:
    for _ in range(LIMIT):
        answer = await limited.client.get(
            "/v2/orders", headers={"Authorization": "Bearer x.y.z", **_from("203.0.113.9")}
        )
        assert answer.status_code == 401
    refused = await limited.client.get(
        "/v2/no-such-route", headers={"Authorization": "Bearer x.y.z", **_from("203.0.113.9")}
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


def _authenticates(dependant: Dependant) -> bool:
    return any(d.call is deps._principal or _authenticates(d) for d in dependant.dependencies)


async def test_the_gates_public_paths_are_the_routes_that_take_no_credentials(api: Api) -> None:
    # Included routers are kept as routers of their own (FastAPI's _IncludedRouter).
    routes = [
        route
        for included in create_api(api.context).routes
        for route in getattr(getattr(included, "original_router", None), "routes", [included])
        if isinstance(route, APIRoute)
    ]
    public = {r.path for r in routes if not _authenticates(r.dependant)}
    guarded = {r.path for r in routes if _authenticates(r.dependant)}
    assert public == {"/v2/token", "/v2/problems/{code}"}
    assert all(p.startswith(PUBLIC_PATHS) for p in public)
    assert not any(p.startswith(PUBLIC_PATHS) for p in guarded)
    assert len(guarded) >= 10
