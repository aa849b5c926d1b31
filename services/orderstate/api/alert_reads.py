"""Reading the order monitor's alerts (``order_alerts``): a shop's list, and the open alerts of
the orders a response shows.

The monitor writes the rows (``orderstate.monitor.store``) after their alert events are on
Kafka; the API only reads them, always within the caller's shop. The WHERE clause is built
from fixed fragments, values always as parameters.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from orderstate.domain import OrderState
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = [
    "AlertFilters",
    "AlertRow",
    "AlertSort",
    "alerts_from_rows",
    "alerts_open_at",
    "list_alerts",
    "open_alerts_of",
]

_COLUMNS = (
    "alert_id, order_id, rule, state, order_version, since, deadline, raised_at, cleared_at, "
    "cleared_because"
)
_FIELDS = tuple(_COLUMNS.split(", "))


class AlertSort(StrEnum):
    RAISED_AT = "raised_at"
    DEADLINE = "deadline"


@dataclass(frozen=True)
class AlertFilters:
    rules: list[str] = field(default_factory=list)
    # None: both; True: open only; False: cleared only.
    open: bool | None = None
    order_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_id: str
    order_id: str
    rule: str
    state: OrderState | None
    order_version: int | None
    since: datetime
    deadline: datetime
    raised_at: datetime
    cleared_at: datetime | None
    cleared_because: str | None


def alerts_from_rows(rows: list[tuple[object, ...]] | None) -> list[AlertRow]:
    """The alerts a statement aggregated as rows of ``AlertRow``'s columns, in its order
    (``order_read``)."""
    return [_row(dict(zip(_FIELDS, r, strict=True))) for r in rows or ()]


def _row(r: asyncpg.Record | dict[str, Any]) -> AlertRow:
    return AlertRow(
        alert_id=r["alert_id"],
        order_id=r["order_id"],
        rule=r["rule"],
        state=OrderState(r["state"]) if r["state"] else None,
        order_version=r["order_version"],
        since=r["since"],
        deadline=r["deadline"],
        raised_at=r["raised_at"],
        cleared_at=r["cleared_at"],
        cleared_because=r["cleared_because"],
    )


async def list_alerts(
    conn: Conn,
    shop_id: str,
    filters: AlertFilters,
    *,
    sort: AlertSort,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[AlertRow], int]:
    """One page of the shop's alerts and how many match."""
    where = ["shop_id = $1"]
    params: list[object] = [shop_id]

    def param(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    if filters.rules:
        where.append(f"rule = ANY({param(filters.rules)}::text[])")
    if filters.open is True:
        where.append("cleared_at IS NULL")
    elif filters.open is False:
        where.append("cleared_at IS NOT NULL")
    if filters.order_ids:
        where.append(f"order_id = ANY({param(filters.order_ids)}::text[])")
    condition = " AND ".join(where)
    count_args = tuple(params)
    direction = "DESC" if descending else "ASC"
    page = (
        f"SELECT {_COLUMNS} FROM order_alerts WHERE {condition} "
        f"ORDER BY {sort.value} {direction}, alert_id {direction} "
        f"LIMIT {param(limit)} OFFSET {param(offset)}"
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(page, *params)
        total = await conn.fetchval(
            f"SELECT count(*) FROM order_alerts WHERE {condition}", *count_args
        )
    return [_row(r) for r in rows], int(total)


async def open_alerts_of(
    conn: Conn, shop_id: str, order_ids: list[str]
) -> dict[str, list[AlertRow]]:
    """The open alerts of these orders, oldest first, by order."""
    rows = await conn.fetch(query("open_alerts_of_orders"), shop_id, order_ids)
    found: dict[str, list[AlertRow]] = {}
    for record in rows:
        row = _row(record)
        found.setdefault(row.order_id, []).append(row)
    return found


async def alerts_open_at(
    conn: Conn, shop_id: str, order_id: str, moment: datetime
) -> list[AlertRow]:
    """The order's alerts raised by ``moment`` and not cleared by then, oldest first."""
    rows = await conn.fetch(query("alerts_open_at"), shop_id, order_id, moment)
    return [_row(r) for r in rows]
