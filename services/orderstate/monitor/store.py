"""The monitor's PostgreSQL side: the alerts the API reads, what is parked, the gauges.

The monitor keeps its own state in faust tables; PostgreSQL gets a copy of every alert event
(``order_alerts``) so the REST API can serve alerts scoped to a shop like everything else,
and it is where the worker keeps parked shipments (``parked_events``), which the monitor only
reads. Writes are idempotent upserts by alert id, one statement per batch.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from orderstate.projector.queries import query

__all__ = [
    "AlertRow",
    "OpenParkedAlert",
    "ParkedOrder",
    "delete_cleared_alerts",
    "open_alert_counts",
    "open_parked_alerts",
    "parked_orders",
    "write_alerts",
]


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class AlertRow:
    shop_id: str
    alert_id: str
    order_id: str
    rule: str
    state: str | None
    order_version: int | None
    since_ms: int
    due_ms: int
    raised_at_ms: int
    cleared_at_ms: int | None
    cleared_because: str | None
    updated_ms: int


async def write_alerts(pool: asyncpg.Pool, rows: list[AlertRow]) -> None:
    if not rows:
        return
    # One statement cannot update a row twice: the last event of an alert wins.
    last = list({(r.shop_id, r.alert_id): r for r in rows}.values())
    columns: list[list[object]] = [
        [r.shop_id for r in last],
        [r.alert_id for r in last],
        [r.order_id for r in last],
        [r.rule for r in last],
        [r.state for r in last],
        [r.order_version for r in last],
        [_time(r.since_ms) for r in last],
        [_time(r.due_ms) for r in last],
        [_time(r.raised_at_ms) for r in last],
        [_time(r.cleared_at_ms) for r in last],
        [r.cleared_because for r in last],
        [_time(r.updated_ms) for r in last],
    ]
    async with pool.acquire() as conn:
        await conn.execute(query("upsert_alerts"), *columns)


async def open_alert_counts(pool: asyncpg.Pool) -> dict[tuple[str, str], int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(query("open_alert_counts"))
    return {(r["shop_id"], r["rule"]): r["open"] for r in rows}


@dataclass(frozen=True, slots=True)
class ParkedOrder:
    shop_id: str
    order_id: str
    since_ms: int
    waiting: int


async def parked_orders(pool: asyncpg.Pool) -> list[ParkedOrder]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(query("parked_orders"))
    return [ParkedOrder(r["shop_id"], r["order_id"], _ms(r["since"]), r["waiting"]) for r in rows]


@dataclass(frozen=True, slots=True)
class OpenParkedAlert:
    shop_id: str
    alert_id: str
    order_id: str
    since_ms: int
    due_ms: int
    raised_at_ms: int


async def open_parked_alerts(pool: asyncpg.Pool) -> list[OpenParkedAlert]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(query("open_parked_alerts"))
    return [
        OpenParkedAlert(
            r["shop_id"],
            r["alert_id"],
            r["order_id"],
            _ms(r["since"]),
            _ms(r["deadline"]),
            _ms(r["raised_at"]),
        )
        for r in rows
    ]


async def delete_cleared_alerts(pool: asyncpg.Pool, before: datetime) -> int:
    async with pool.acquire() as conn:
        status = await conn.execute(query("delete_cleared_alerts"), before)
    return int(status.split()[-1])
