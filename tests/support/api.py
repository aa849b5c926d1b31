"""The REST API in the test's event loop, on a real database, with a clock the test moves."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from orderstate.api.app import create_api
from orderstate.api.context import ApiContext
from orderstate.api.keys import KeyReading, create_key
from orderstate.domain import PolicyBook
from orderstate.settings import Settings
from orderstate.startup import open_pool


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        # Every call moves a millisecond, so recorded times are strictly ordered.
        self.now += timedelta(milliseconds=1)
        return self.now


@dataclass
class Api:
    client: httpx.AsyncClient
    context: ApiContext
    clock: Clock
    app: FastAPI

    async def key(self, shop: str, **reading: Any) -> str:
        """A new key of ``shop``; ``reading`` sets its profile, unknown_fields, time_zone."""
        async with self.context.pool.acquire() as conn:
            created = await create_key(
                conn,
                shop_id=shop,
                label="test",
                pepper=self.context.settings.api_key_pepper.get_secret_value(),
                now=self.clock(),
                reading=KeyReading(**reading),
            )
        return created.plain

    async def as_shop(self, shop: str, **reading: Any) -> dict[str, str]:
        return {"API-KEY": await self.key(shop, **reading)}


def order_body(order_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "order_url": "https://shop.example.com",
        "order_date": "2026-11-20T10:00:00Z",
        "language": "de",
        "order_tags": {"channel": "web"},
        "items": [
            {
                "item_id": "l1",
                "sku": "TS-1",
                "quantity": 2,
                "unit_price": "19.99",
                "currency": "EUR",
            }
        ],
    }
    body.update(overrides)
    return body


async def api_for(settings: Settings) -> AsyncIterator[Api]:
    # The pool production opens, so the tests see its settings.
    pool = await open_pool(settings, wait_s=0)
    clock = Clock()
    context = ApiContext(settings=settings, pool=pool, policies=PolicyBook(), clock=clock)
    app = create_api(context)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orderstate.test") as client:
        yield Api(client, context, clock, app)
    await pool.close()


async def plain_api_key(database_url: str, shop: str, *, pepper: str, label: str) -> str:
    """A new API key of ``shop``, for an API running in another process."""
    conn = await asyncpg.connect(database_url)
    try:
        created = await create_key(
            conn, shop_id=shop, label=label, pepper=pepper, now=datetime.now(UTC)
        )
    finally:
        await conn.close()
    return created.plain
