"""Authentication: the token flow, the legacy header, expiry and revocation."""

from datetime import timedelta

import jwt

from orderstate.api.keys import revoke_key
from tests.support.api import Api, order_body


async def test_access_key_buys_a_bearer_token_for_60_minutes(api: Api) -> None:
    key = await api.key("shop-a")
    answer = await api.client.post("/v2/token", json={"access_key": key})
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 3600
    token = answer.json()["token"]
    created = await api.client.post(
        "/v2/orders", json=order_body("A-1"), headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201


async def test_expired_token_is_401(api: Api) -> None:
    key = await api.key("shop-a")
    token = (await api.client.post("/v2/token", json={"access_key": key})).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    api.clock.now += timedelta(minutes=59)
    assert (await api.client.get("/v2/orders", headers=headers)).status_code == 200
    api.clock.now += timedelta(minutes=2)
    answer = await api.client.get("/v2/orders", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "unauthorized"
    assert "expired" in answer.json()["detail"]
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_revoked_key_ends_its_tokens_and_its_header(api: Api) -> None:
    key = await api.key("shop-a")
    token = (await api.client.post("/v2/token", json={"access_key": key})).json()["token"]
    key_id = key.split("_")[1]
    async with api.context.pool.acquire() as conn:
        assert await revoke_key(conn, shop_id="shop-a", key_id=key_id, now=api.clock())
    bearer = await api.client.get("/v2/orders", headers={"Authorization": f"Bearer {token}"})
    legacy = await api.client.get("/v2/orders", headers={"API-KEY": key})
    fresh = await api.client.post("/v2/token", json={"access_key": key})
    assert (bearer.status_code, legacy.status_code, fresh.status_code) == (401, 401, 401)
    assert bearer.json()["detail"] == "the API key behind this token was revoked"
    # Every 401 names the scheme that would work (RFC 9110 15.5.2), the token route's too.
    for answer in (bearer, legacy, fresh):
        assert answer.headers["www-authenticate"] == 'Bearer realm="orderstate"'


async def test_missing_and_wrong_credentials_are_401_problems(api: Api) -> None:
    missing = await api.client.get("/v2/orders")
    wrong_key = await api.client.get("/v2/orders", headers={"API-KEY": "osk_000000000000_nope"})
    wrong_token = await api.client.get(
        "/v2/orders", headers={"Authorization": "Bearer not.a.token"}
    )
    for answer in (missing, wrong_key, wrong_token):
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthorized"
        assert answer.json()["type"] == "/v2/problems/unauthorized"
    assert missing.json()["detail"].startswith("credentials missing")


async def test_token_of_another_servers_secret_is_refused(api: Api) -> None:
    forged = jwt.encode(
        {"iss": "orderstate", "sub": "shop-a", "kid": "x", "exp": 4_102_444_800},
        "not-our-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    answer = await api.client.get("/v2/orders", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401
    assert "Signature verification failed" in answer.json()["detail"]
