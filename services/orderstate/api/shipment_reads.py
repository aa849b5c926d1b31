"""Reading a shop's shipments across its orders (``/v2/shipments``).

Shipments of deleted orders are not shown, as their orders are not. Every query is scoped
to the caller's shop. The shipments with one id are a named query
(projector/sql/api_reads.sql); the list statement is composed here from the fixed fragments
below, for the reason and with the guarantees api/reads.py gives: all SQL text is literals of
this module, and every value a client sends is bound as a parameter.
"""

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from orderstate.domain import OrderState, ShipmentDirection, ShipmentStatus
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["ShipmentFilters", "ShipmentRow", "find_shipments", "list_shipments"]

_COLUMNS = (
    "s.order_id, s.shipment_id, s.direction, s.status, s.carrier, s.tracking_code, "
    "s.linked_at, s.status_at, o.state AS order_state"
)
_FROM = "FROM order_shipments s JOIN orders o USING (shop_id, order_id)"


@dataclass(frozen=True)
class ShipmentFilters:
    order_ids: list[str] = field(default_factory=list)
    shipment_ids: list[str] = field(default_factory=list)
    statuses: list[ShipmentStatus] = field(default_factory=list)
    direction: ShipmentDirection | None = None


@dataclass(frozen=True)
class ShipmentRow:
    order_id: str
    shipment_id: str
    direction: ShipmentDirection
    status: ShipmentStatus
    carrier: str | None
    tracking_code: str | None
    linked_at: datetime
    status_at: datetime
    order_state: OrderState


async def find_shipments(conn: Conn, shop_id: str, shipment_id: str) -> list[ShipmentRow]:
    """Every shipment of the shop with this id: ids are unique per order, not per shop."""
    rows = await conn.fetch(query("shipments_by_id"), shop_id, shipment_id)
    return [_row(r) for r in rows]


async def list_shipments(
    conn: Conn,
    shop_id: str,
    filters: ShipmentFilters,
    *,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[ShipmentRow], int]:
    where = ["s.shop_id = $1", "NOT o.deleted"]
    params: list[object] = [shop_id]

    def param(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    if filters.order_ids:
        where.append(f"s.order_id = ANY({param(filters.order_ids)}::text[])")
    if filters.shipment_ids:
        where.append(f"s.shipment_id = ANY({param(filters.shipment_ids)}::text[])")
    if filters.statuses:
        where.append(f"s.status = ANY({param([s.value for s in filters.statuses])}::text[])")
    if filters.direction is not None:
        where.append(f"s.direction = {param(filters.direction.value)}")
    condition = " AND ".join(where)
    count_args = tuple(params)
    direction = "DESC" if descending else "ASC"
    page_sql = (
        f"SELECT {_COLUMNS} {_FROM} WHERE {condition} "
        f"ORDER BY s.linked_at {direction}, s.order_id {direction}, s.shipment_id {direction} "
        f"LIMIT {param(limit)} OFFSET {param(offset)}"
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(page_sql, *params)
        total = await conn.fetchval(f"SELECT count(*) {_FROM} WHERE {condition}", *count_args)
    return [_row(r) for r in rows], int(total)


def _row(r: asyncpg.Record) -> ShipmentRow:
    return ShipmentRow(
        order_id=r["order_id"],
        shipment_id=r["shipment_id"],
        direction=ShipmentDirection(r["direction"]),
        status=ShipmentStatus(r["status"]),
        carrier=r["carrier"],
        tracking_code=r["tracking_code"],
        linked_at=r["linked_at"],
        status_at=r["status_at"],
        order_state=OrderState(r["order_state"]),
    )
