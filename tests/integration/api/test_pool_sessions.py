"""Pooled connections come back without session state, which is why the pool skips asyncpg's
reset query on release (orderstate/startup.py): whatever a request sets, locks or listens to
must end with its transaction."""

import asyncio
from contextlib import AsyncExitStack

from orderstate.projector.connection import Conn
from tests.support.api import Api, order_body


async def _session_state(conn: Conn) -> list[str]:
    """What a connection would carry into the next request."""
    found: list[str] = []
    # What RESET ALL would change back (asyncpg sets jit and restores it when it loads types).
    rows = await conn.fetch(
        "SELECT name FROM pg_settings WHERE source = 'session' AND setting <> reset_val"
    )
    found += [f"setting {r['name']}" for r in rows]
    locks = await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    )
    found += [f"{locks} advisory locks"] if locks else []
    channels = await conn.fetch("SELECT pg_listening_channels() AS channel")
    found += [f"listening on {r['channel']}" for r in channels]
    cursors = await conn.fetchval("SELECT count(*) FROM pg_cursors WHERE is_holdable")
    found += [f"{cursors} open cursors"] if cursors else []
    return found


async def _every_connection_state(api: Api) -> dict[int, list[str]]:
    pool = api.context.pool
    async with AsyncExitStack() as stack:
        # Holding every connection at once reaches each one the requests used.
        conns = await asyncio.gather(
            *(stack.enter_async_context(pool.acquire()) for _ in range(pool.get_max_size()))
        )
        return {id(c): await _session_state(c) for c in conns}


async def test_the_probe_sees_session_state(api: Api) -> None:
    async with api.context.pool.acquire() as conn:
        await conn.execute("SET work_mem = '8MB'")
        await conn.execute("SELECT pg_advisory_lock(42)")
        assert await _session_state(conn) == ["setting work_mem", "1 advisory locks"]
        await conn.execute("RESET ALL; SELECT pg_advisory_unlock_all()")


async def test_requests_leave_no_session_state_on_pooled_connections(api: Api) -> None:
    headers = await api.as_shop("shop-p")
    writes = [
        api.client.post(
            "/v2/orders",
            json=order_body(f"P-{n}"),
            headers={**headers, "Idempotency-Key": f"k-{n}"},
        )
        for n in range(6)
    ]
    assert {r.status_code for r in await asyncio.gather(*writes)} == {201}
    state = {"order_id": "P-1", "state": "paid", "datetime": "2026-11-21T10:00:00Z"}
    assert (await api.client.post("/v2/order-states", json=state, headers=headers)).is_success
    reads = [
        "/v2/orders?filters[state]=paid&filters[tag]=channel:web",
        "/v2/orders?filters[order_date_from]=2026-11-01T00:00:00Z&order_by=-updated_at",
        "/v2/orders/P-1",
        "/v2/orders/P-1/events",
    ]
    for answer in await asyncio.gather(*(api.client.get(p, headers=headers) for p in reads)):
        assert answer.status_code == 200, answer.text

    assert {k: v for k, v in (await _every_connection_state(api)).items() if v} == {}
