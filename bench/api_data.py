"""The API benchmark's data set: N orders over a number of shops, generated inside PostgreSQL
with one ``INSERT ... SELECT FROM generate_series`` that builds the orders columns and a
valid ``view`` (OrderView JSON) per row.

Every pseudo-random choice is a hash of the row number (``hashint8extended``), so a run with
the same N makes the same rows. Rows are numbered in order-date order with the shops
interleaved, as a real table fills: the heap is correlated with order_date, each shop's rows
are spread over the whole table, and updated_at is correlated with order_date only loosely.

What is generated (shares of every shop's orders):

- state: new 4 %, paid 6 %, in_production 3 %, warehouse_handover 3 %, in_preparation 4 %,
  shipped 15 %, completed 45 %, returned 7 %, refunded 5 %, cancelled 8 %
- order_date: spread evenly over the year before ``end``; created_at seconds later
- updated_at: between created_at and ``end``, up to 30 days after created_at (new: created_at)
- language: de 35 %, en 25 %, fr 10 %, nl 7 %, it 6 %, es 6 %, pl 4 %, sv 3 %, none 4 %
- boarding_complete: always when completed, 70 % when shipped/returned/refunded, else 15 %
- tags: {"channel": web 50 % | app 25 % | marketplace 15 % | store 10 %}, and 8 % of the
  orders also {"campaign": "bf"}
- 1 to 3 items, an outbound shipment once shipped (and a return one when returned), a
  history of 1 to 3 states (rows of order_state_history; the view holds its summary, as
  orderstate stores it); 0.2 % of the orders are deleted
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from orderstate.domain import OrderView

# A uniform number in [0, 1) per row and salt; deterministic, so a subquery may repeat it.
_U = "((hashint8extended(g, {k}) & 4294967295)::float8 / 4294967296.0)"

_STATES = [
    ("new", 0.04),
    ("paid", 0.06),
    ("in_production", 0.03),
    ("warehouse_handover", 0.03),
    ("in_preparation", 0.04),
    ("shipped", 0.15),
    ("completed", 0.45),
    ("returned", 0.07),
    ("refunded", 0.05),
    ("cancelled", 0.08),
]
_LANGUAGES = [
    ("de", 0.35),
    ("en", 0.25),
    ("fr", 0.10),
    ("nl", 0.07),
    ("it", 0.06),
    ("es", 0.06),
    ("pl", 0.04),
    ("sv", 0.03),
    (None, 0.04),
]
_CHANNELS = [("web", 0.50), ("app", 0.25), ("marketplace", 0.15), ("store", 0.10)]
CAMPAIGN_SHARE = 0.08


def _buckets(u: str, choices: Sequence[tuple[str | None, float]]) -> str:
    """A CASE expression picking a choice by cumulative share of the uniform number ``u``."""
    if abs(sum(s for _, s in choices) - 1) > 1e-9:
        raise ValueError(f"shares do not add up to 1: {choices}")
    parts, cumulative = [], 0.0
    for value, share in choices[:-1]:
        cumulative += share
        parts.append(f"WHEN {u} < {cumulative:.4f} THEN {_literal(value)}")
    return f"CASE {' '.join(parts)} ELSE {_literal(choices[-1][0])} END"


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _u(k: int) -> str:
    return _U.format(k=k)


def _ts(expr: str) -> str:
    """A timestamptz as a JSON string (ISO 8601 with offset; the session runs in UTC)."""
    return f"to_json({expr})::text"


# $1 = number of orders, $2 = number of shops, $3 = end of the order-date year.
# OFFSET 0 keeps each level from being merged into the next, so every value is computed once.
INSERT_SQL = f"""
INSERT INTO orders (shop_id, order_id, order_url, order_date, language, promised_delivery_date,
                    tags, boarding_complete, state, payment_evidence, version, deleted,
                    created_at, updated_at, view)
SELECT shop_id, order_id, order_url, order_date, language, promised, tags::jsonb, boarding,
       state, paid, version, deleted, created_at, updated_at,
       '{{"shop_id":' || to_json(shop_id)::text
       || ',"order_id":' || to_json(order_id)::text
       || ',"fields":{{"order_url":' || to_json(order_url)::text
       || ',"order_date":' || {_ts("order_date")}
       || ',"language":' || coalesce(to_json(language)::text, 'null')
       || ',"promised_delivery_date":' || coalesce({_ts("promised")}, 'null')
       || '}},"items":[' || items
       || '],"tags":' || tags
       || ',"shipments":[' || shipments
       || '],"boarding_complete":' || boarding::text
       || ',"state":"' || state
       || '","payment_evidence":' || paid::text
       || ',"version":' || version::text
       || ',"history_length":' || history_length::text
       || ',"created_in":"new","created_by":' || to_json(created_by)::text
       || ',"completed_once":' || (state = 'completed')::text
       || ',"created_at":' || {_ts("created_at")}
       || ',"updated_at":' || {_ts("updated_at")}
       || ',"deleted":' || deleted::text || '}}'
FROM (
    SELECT *,
        -- items: 1 to 3, their status following the order's state
        concat_ws(',',
            format('{{"item_id":"1","sku":"SKU-%s","name":"Article %s","quantity":%s,'
                   '"unit_price":"%s","currency":"EUR","status":"%s"}}',
                   sku, sku, 1 + (u8 * 3)::int, round((5 + u9 * 195)::numeric, 2), item_status),
            CASE WHEN n_items >= 2 THEN
                format('{{"item_id":"2","sku":"SKU-%s","name":null,"quantity":1,'
                       '"unit_price":"%s","currency":"EUR","status":"%s"}}',
                       (sku + 17) % 5000, round((3 + u8 * 60)::numeric, 2), item_status)
            END,
            CASE WHEN n_items >= 3 THEN
                format('{{"item_id":"3","sku":"SKU-%s","name":"Gift wrap","quantity":1,'
                       '"unit_price":"2.50","currency":"EUR","status":"%s"}}',
                       (sku + 101) % 5000, item_status)
            END) AS items,
        -- shipments: outbound once shipped, a return parcel when returned
        concat_ws(',',
            CASE WHEN state IN ('shipped', 'completed', 'returned', 'refunded') THEN
                format('{{"shipment_id":"SHP-%s","direction":"outbound","status":"%s",'
                       '"carrier":"dhl","tracking_code":"00340434%s","linked_at":%s,'
                       '"status_at":%s}}',
                       g, CASE WHEN state = 'shipped' THEN 'in_transit' ELSE 'delivered' END,
                       lpad(g::text, 10, '0'), {_ts("shipped_at")}, {_ts("updated_at")})
            END,
            CASE WHEN state = 'returned' THEN
                format('{{"shipment_id":"RET-%s","direction":"return","status":"delivered",'
                       '"carrier":"dhl","tracking_code":null,"linked_at":%s,"status_at":%s}}',
                       g, {_ts("updated_at")}, {_ts("updated_at")})
            END) AS shipments,
        -- history (rows of order_state_history, HISTORY_SQL): new, then paid (if paid), then
        -- the current state
        1 + (paid AND state <> 'new')::int + (state NOT IN ('new', 'paid'))::int
            AS history_length,
        format('evt-%s-%s-1', shop_id, order_id) AS created_by,
        1 + n_items + (state <> 'new')::int + (paid AND state <> 'new')::int AS version
    FROM (
        SELECT *,
            CASE WHEN state = 'new' THEN created_at
                 ELSE created_at + u4 * least(interval '30 days', $3::timestamptz - created_at)
            END AS updated_at,
            created_at + (0.5 + u4 * 0.4) * least(interval '30 days',
                                                  $3::timestamptz - created_at) AS shipped_at,
            CASE WHEN state = 'completed' THEN true
                 WHEN state IN ('shipped', 'returned', 'refunded') THEN u5 < 0.7
                 ELSE u5 < 0.15 END AS boarding,
            state NOT IN ('new', 'cancelled') AS paid,
            CASE WHEN state IN ('shipped', 'completed') THEN 'shipped'
                 WHEN state IN ('returned', 'refunded', 'cancelled') THEN state
                 ELSE 'open' END AS item_status,
            format('https://%s.example.com/orders/%s', shop_id, order_id) AS order_url
        FROM (
            SELECT *,
                format('shop-%s', lpad((g % $2::int)::text, 2, '0')) AS shop_id,
                format('SO-%s', 1000000 + g / $2::int) AS order_id,
                order_date + u2 * interval '2 minutes' AS created_at,
                CASE WHEN u7 < 0.8 THEN order_date + interval '3 days' END AS promised,
                {_buckets(_u(3), _STATES)} AS state,
                {_buckets(_u(6), _LANGUAGES)} AS language,
                '{{"channel":"' || {_buckets(_u(10), _CHANNELS)} || '"'
                    || CASE WHEN {_u(11)} < {CAMPAIGN_SHARE} THEN ',"campaign":"bf"' ELSE '' END
                    || '}}' AS tags,
                {_u(12)} < 0.002 AS deleted,
                1 + floor({_u(14)} * 3)::int AS n_items,
                (hashint8extended(g, 13) & 4294967295) % 5000 AS sku
            FROM (
                SELECT g,
                    $3::timestamptz - interval '365 days'
                        + (g::float8 / $1::bigint) * interval '365 days'
                        + {_u(1)} * interval '1 hour' AS order_date,
                    {_u(2)} AS u2, {_u(4)} AS u4, {_u(5)} AS u5, {_u(7)} AS u7,
                    {_u(8)} AS u8, {_u(9)} AS u9
                FROM generate_series(0::bigint, $1::bigint - 1) AS g
                OFFSET 0
            ) AS r
            OFFSET 0
        ) AS picked
        OFFSET 0
    ) AS timed
    OFFSET 0
) AS parts
"""


# The states_history of every order, as the view's summary counts it: new at created_at, paid
# ten minutes later if it was paid, then the current state at updated_at. The view is stored
# without its entries, as orderstate has stored it since migration 0009, so GET by id reads
# them from this table.
HISTORY_SQL = """
INSERT INTO order_state_history (shop_id, order_id, seq, state, occurred_at, recorded_at,
                                 cause_event_id, late, location, occurred_offset_s)
SELECT o.shop_id, o.order_id, e.seq, e.state, e.at, e.at,
       format('evt-%s-%s-%s', o.shop_id, o.order_id, e.seq), false, NULL, NULL
FROM orders o
CROSS JOIN LATERAL (
    SELECT 1 AS seq, 'new' AS state, o.created_at AS at
    UNION ALL
    SELECT 2, 'paid', o.created_at + interval '10 minutes'
    WHERE o.payment_evidence AND o.state <> 'new'
    UNION ALL
    SELECT 2 + (o.payment_evidence AND o.state <> 'new')::int, o.state, o.updated_at
    WHERE o.state NOT IN ('new', 'paid')
) AS e
"""
_TABLES = ("orders", "order_state_history")


@dataclass(frozen=True)
class Dataset:
    orders: int
    shops: int
    end: datetime
    insert_s: float
    index_s: float
    analyze_s: float
    table_mb: float
    indexes_mb: dict[str, float]
    counts: dict[str, dict[str, int]]

    @property
    def total_s(self) -> float:
        return self.insert_s + self.index_s + self.analyze_s


async def generate(url: str, *, orders: int, shops: int, end: datetime) -> Dataset:
    """Fill the (migrated, empty) orders and order_state_history tables; the indexes the
    migrations made, but the primary keys, are dropped first and built again afterwards from
    their own definitions (one sort per index instead of a million index insertions), then
    VACUUM ANALYZE."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET synchronous_commit = off")
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = any($1::text[]) AND indexname NOT LIKE '%\\_pkey'",
            list(_TABLES),
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        started = time.monotonic()
        await conn.execute(INSERT_SQL, orders, shops, end)
        await conn.execute(HISTORY_SQL)
        inserted = time.monotonic()
        for row in indexes:
            await conn.execute(row["indexdef"])
        indexed = time.monotonic()
        # VACUUM sets the visibility map (index-only scans) and hint bits; ANALYZE the
        # statistics; CHECKPOINT writes the dirty pages now rather than during the load runs.
        await conn.execute(f"VACUUM (ANALYZE) {', '.join(_TABLES)}")
        await conn.execute("CHECKPOINT")
        analyzed = time.monotonic()
        table_mb = await conn.fetchval("SELECT pg_table_size('orders') / 1048576.0")
        sizes = await conn.fetch(
            "SELECT indexrelid::regclass::text AS name, "
            "pg_relation_size(indexrelid) / 1048576.0 AS mb "
            "FROM pg_index WHERE indrelid = 'orders'::regclass ORDER BY 1"
        )
        counts = {
            "state": await _shares(conn, "state"),
            "language": await _shares(conn, "coalesce(language, '(none)')"),
            "boarding_complete": await _shares(conn, "boarding_complete::text"),
            "tags": await _shares(conn, "tags::text"),
            "deleted": await _shares(conn, "deleted::text"),
        }
        await _check_views(conn)
    finally:
        await conn.close()
    return Dataset(
        orders=orders,
        shops=shops,
        end=end,
        insert_s=inserted - started,
        index_s=indexed - inserted,
        analyze_s=analyzed - indexed,
        table_mb=float(table_mb),
        indexes_mb={r["name"]: float(r["mb"]) for r in sizes},
        counts=counts,
    )


async def _shares(conn: asyncpg.Connection, expr: str) -> dict[str, int]:
    # One shop's figures: every shop has the same mix.
    rows = await conn.fetch(
        f"SELECT {expr} AS k, count(*) AS n FROM orders WHERE shop_id = 'shop-00' "
        "GROUP BY 1 ORDER BY 2 DESC"
    )
    return {str(r["k"]): int(r["n"]) for r in rows}


async def _check_views(conn: asyncpg.Connection) -> None:
    """A sample of views parses as OrderView and agrees with its row's columns and with the
    number of its history rows."""
    rows = await conn.fetch(
        "SELECT shop_id, order_id, state, updated_at, boarding_complete, tags::text AS tags, "
        "language, view, (SELECT count(*) FROM order_state_history h "
        "WHERE h.shop_id = o.shop_id AND h.order_id = o.order_id) AS entries "
        "FROM orders o TABLESAMPLE SYSTEM (0.1) REPEATABLE (7) LIMIT 500"
    )
    if not rows:
        raise RuntimeError("no rows to check")
    for r in rows:
        view = OrderView.model_validate_json(r["view"])
        if (
            view.shop_id,
            view.order_id,
            view.state.value,
            view.updated_at,
            view.boarding_complete,
            view.fields.language,
            view.history_length,
        ) != (
            r["shop_id"],
            r["order_id"],
            r["state"],
            r["updated_at"],
            r["boarding_complete"],
            r["language"],
            r["entries"],
        ):
            raise RuntimeError(f"view and columns differ for {r['shop_id']}/{r['order_id']}")


async def order_ids(url: str, shop_id: str) -> list[str]:
    """Every order id of the shop that is not deleted (what GET by id may ask for)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT order_id FROM orders WHERE shop_id = $1 AND NOT deleted ORDER BY order_id",
            shop_id,
        )
    finally:
        await conn.close()
    return [r["order_id"] for r in rows]
