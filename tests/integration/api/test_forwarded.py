"""Behind an Ingress, paging links carry the public scheme and host, but only when the
connection comes from a proxy ORDERSTATE_API_TRUSTED_PROXIES names."""

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support.api import Api, api_for, order_body

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "orders.example.com"}


async def _api(database_url: str, kafka: str, proxies: str) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=SecretStr(database_url),
        kafka_bootstrap_servers=kafka,
        api_trusted_proxies=proxies,
    )
    async for ready in api_for(settings):
        yield ready


async def _first_link(api: Api, extra: dict[str, str]) -> str:
    headers = await api.as_shop("shop-a")
    for n in range(3):
        await api.client.post("/v2/orders", json=order_body(f"F-{n}"), headers=headers)
    listed = await api.client.get("/v2/orders?limit=1", headers={**headers, **extra})
    assert listed.status_code == 200
    return listed.headers["link"].split(">")[0].lstrip("<")


@pytest.mark.parametrize(
    ("proxies", "extra", "expected"),
    [
        ("127.0.0.0/8", FORWARDED, "https://orders.example.com/v2/orders"),
        ("", FORWARDED, "http://orderstate.test/v2/orders"),
        ("10.0.0.0/8", FORWARDED, "http://orderstate.test/v2/orders"),
        # A value that is no host name is ignored, the scheme still counts.
        (
            "127.0.0.1",
            {**FORWARDED, "X-Forwarded-Host": "evil.example/x?"},
            "https://orderstate.test/v2/orders",
        ),
        # Proxies append: the last value is the one the trusted proxy set.
        (
            "127.0.0.1",
            {**FORWARDED, "X-Forwarded-Host": "spoofed.example, orders.example.com"},
            "https://orders.example.com/v2/orders",
        ),
    ],
    ids=["trusted", "no-proxy-configured", "other-network", "bad-host", "appended"],
)
async def test_links_follow_forwarded_headers_only_from_trusted_proxies(
    database_url: str, kafka_bootstrap: str, proxies: str, extra: dict[str, str], expected: str
) -> None:
    async for api in _api(database_url, kafka_bootstrap, proxies):
        link = await _first_link(api, extra)
        assert link.startswith(f"{expected}?"), link
