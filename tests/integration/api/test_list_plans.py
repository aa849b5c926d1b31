"""The plan of a short list with a time range on one column sorted by another: its keys come
from the range's index alone, and the table is read only for the page (migration 0011)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from orderstate.api.reads import OrderFilters, SortField, list_statements

_ORDERS = 20_000
_PAGE = 20
_START = datetime(2026, 1, 1, tzinfo=UTC)

# Orders placed one a minute from _START, updated in the reverse order, so a range on one time
# column picks orders from the far end of the other's index.
_FILL = """
INSERT INTO orders (shop_id, order_id, order_date, state, version, created_at, updated_at, view)
SELECT 'shop-p', 'P-' || lpad(g::text, 6, '0'),
       $1::timestamptz + g * interval '1 minute',
       (ARRAY['new', 'paid', 'cancelled'])[1 + g % 3], 1,
       $1::timestamptz + g * interval '1 minute',
       $1::timestamptz + ($2 - g) * interval '1 minute',
       '{}'
FROM generate_series(1, $2) AS g
"""


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found, stack = [], [plan]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("Plans", []))
    return found


@pytest.fixture
async def shop(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(_FILL, _START, _ORDERS)
        # Sets the visibility map, as autovacuum does on a table that is not written all over.
        await conn.execute("VACUUM (ANALYZE) orders")
    finally:
        await conn.close()
    return database_url


@pytest.mark.parametrize(
    ("column", "order_by"),
    [
        *(("updated_at", o) for o in ("order_date", "-order_date", "state", "-state")),
        *(("order_date", o) for o in ("updated_at", "-updated_at", "state", "-state")),
    ],
)
async def test_a_time_range_sorted_by_another_column_reads_the_table_only_for_its_page(
    shop: str, column: str, order_by: str
) -> None:
    in_range = 3_000
    since = _START + timedelta(minutes=_ORDERS - in_range)
    filters = (
        OrderFilters(updated_at_from=since)
        if column == "updated_at"
        else OrderFilters(order_date_from=since)
    )
    sql = list_statements(
        "shop-p",
        filters,
        sort=SortField(order_by.lstrip("-")),
        descending=order_by.startswith("-"),
        limit=_PAGE,
        offset=0,
    )
    assert sql.short_page_sql != sql.page_sql  # the short list's own statement is planned
    conn = await asyncpg.connect(shop, server_settings={"max_parallel_workers_per_gather": "0"})
    try:
        explained = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + sql.short_page_sql, *sql.page_args
        )
    finally:
        await conn.close()
    nodes = _nodes(json.loads(explained)[0]["Plan"])
    index = {"updated_at": "orders_shop_updated", "order_date": "orders_shop_order_date"}[column]
    ranged = [n for n in nodes if n.get("Index Name") == index]
    assert [n["Node Type"] for n in ranged] == ["Index Only Scan"], nodes
    assert ranged[0]["Actual Rows"] >= in_range - 1
    assert ranged[0]["Heap Fetches"] == 0
    table_rows = sum(
        n["Actual Rows"] * n["Actual Loops"]
        for n in nodes
        if n["Node Type"] in ("Seq Scan", "Index Scan", "Bitmap Heap Scan")
    )
    assert table_rows == _PAGE, nodes
