"""Reading orders: one by its shop reference, or a filtered, ordered page.

Every query is scoped to the caller's shop. The WHERE clause is assembled only
from the fixed fragments below, with values always passed as parameters.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from orderstate.domain import OrderState, OrderView
from orderstate.projector.connection import Conn

__all__ = ["OrderFilters", "SortField", "get_order", "list_orders"]


class SortField(StrEnum):
    ORDER_DATE = "order_date"
    UPDATED_AT = "updated_at"
    STATE = "state"


@dataclass(frozen=True)
class OrderFilters:
    states: list[OrderState] = field(default_factory=list)
    order_date_from: datetime | None = None
    order_date_to: datetime | None = None
    updated_at_from: datetime | None = None
    updated_at_to: datetime | None = None
    boarding_complete: bool | None = None
    tags: dict[str, str] = field(default_factory=dict)
    language: str | None = None


async def get_order(conn: Conn, shop_id: str, order_id: str) -> OrderView | None:
    text = await conn.fetchval(
        "SELECT view FROM orders WHERE shop_id = $1 AND order_id = $2 AND NOT deleted",
        shop_id,
        order_id,
    )
    return None if text is None else OrderView.model_validate_json(text)


async def list_orders(
    conn: Conn,
    shop_id: str,
    filters: OrderFilters,
    *,
    sort: SortField,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[OrderView], int]:
    """One page of orders and the total count matching the filters."""
    where = ["shop_id = $1", "NOT deleted"]
    params: list[object] = [shop_id]

    def param(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    if filters.states:
        where.append(f"state = ANY({param([s.value for s in filters.states])}::text[])")
    if filters.order_date_from is not None:
        where.append(f"order_date >= {param(filters.order_date_from)}")
    if filters.order_date_to is not None:
        where.append(f"order_date <= {param(filters.order_date_to)}")
    if filters.updated_at_from is not None:
        where.append(f"updated_at >= {param(filters.updated_at_from)}")
    if filters.updated_at_to is not None:
        where.append(f"updated_at <= {param(filters.updated_at_to)}")
    if filters.boarding_complete is not None:
        where.append(f"boarding_complete = {param(filters.boarding_complete)}")
    if filters.tags:
        where.append(f"tags @> {param(json.dumps(filters.tags))}::jsonb")
    if filters.language is not None:
        where.append(f"language = {param(filters.language)}")
    condition = " AND ".join(where)
    direction = "DESC" if descending else "ASC"
    # order_id breaks ties, so pages are stable while nothing changes.
    page_sql = (
        f"SELECT view FROM orders WHERE {condition} "
        f"ORDER BY {sort.value} {direction}, order_id {direction} "
        f"LIMIT {param(limit)} OFFSET {param(offset)}"
    )
    rows = await conn.fetch(page_sql, *params)
    total = await conn.fetchval(
        f"SELECT count(*) FROM orders WHERE {condition}",
        *params[: len(params) - 2],
    )
    return [OrderView.model_validate_json(r["view"]) for r in rows], int(total)
