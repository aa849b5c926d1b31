"""Reading orders: one by its shop reference, or a filtered, ordered page.

Every query is scoped to the caller's shop. The statement of one order is joined from two
named fragments (projector/sql/api_reads.sql): a head that names the order, by the caller's
shop or by its key, and the read. The list statements are composed here, because each
request combines up to nine optional filters with a sort field and direction, and one fixed
statement per combination would be hundreds. Composing them is safe because every piece of
SQL text comes from this module: the fragments are string literals, the sort column is a
``SortField`` member's value, the direction one of two literals, and placeholders are ``$n``
numbers. Every value a client sends is bound as a parameter, never put into the text.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from asyncpg import Record

from orderstate.api.alert_reads import AlertRow, alerts_from_rows
from orderstate.domain import OrderState, OrderView
from orderstate.projector.connection import Conn
from orderstate.projector.queries import fragment, query
from orderstate.projector.stored_views import entries_of_columns, parse_view, with_histories

__all__ = [
    "EXACT_COUNT_COST_UP_TO",
    "ONE_ORDER_STATEMENTS",
    "SHORT_LIST_UP_TO",
    "ListEstimate",
    "ListStatements",
    "ListTotal",
    "OrderFilters",
    "SortField",
    "get_order",
    "get_order_and_alerts",
    "get_order_for_key",
    "get_order_for_token",
    "list_orders",
    "list_statements",
]


# A list the planner expects to hold at most this many orders is short: with a time range on
# another column than the sort's, its page is read through the range and its top kept, a sort
# of at most about this many rows.
SHORT_LIST_UP_TO = 10_000
# X-Total-Count is counted when the planner expects the count to cost at most this much (in
# its cost units); otherwise it is the planner's row estimate, unless the client asks for the
# exact total. On make bench-api's orders, counts through an index alone cost 250-480 units for
# 4,700-9,900 orders (1-3 ms; the time indexes, which carry two more columns since migration
# 0011, about 0.06 units per order, the others 0.05); a tag filter's count must recheck every
# row in the table (GIN jsonb_path_ops): 18,000-27,000 units for 3,000-8,000 orders, 10-25 ms of
# PostgreSQL CPU, and 116,000 units (285 ms) for 50,000 (bench/results-api.md).
EXACT_COUNT_COST_UP_TO = 650.0


class SortField(StrEnum):
    ORDER_DATE = "order_date"
    UPDATED_AT = "updated_at"
    STATE = "state"


@dataclass(frozen=True)
class OrderFilters:
    states: list[OrderState] = field(default_factory=list)
    # Any of these references (filters[order_id], filters[shop_order_id]).
    order_ids: list[str] = field(default_factory=list)
    order_date_from: datetime | None = None
    order_date_to: datetime | None = None
    updated_at_from: datetime | None = None
    updated_at_to: datetime | None = None
    boarding_complete: bool | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # One tag key asked for with two values: an order's tag has one value, so no order
    # matches all of them (and the list is empty, not the list of the last value).
    tags_contradict: bool = False
    language: str | None = None
    # Only orders with an open alert of the order monitor (the console's filter).
    with_open_alerts: bool = False


async def get_order(conn: Conn, shop_id: str, order_id: str) -> OrderView | None:
    """The order with its whole states_history in ``history``."""
    found = await get_order_and_alerts(conn, shop_id, order_id)
    return None if found is None else found[0]


# The statement of one order for each way a request names its shop: a head that names the
# order, then the read (projector/sql/api_reads.sql).
ONE_ORDER_STATEMENTS = {
    head: f"{fragment(head)}\n{fragment('order_read')}"
    for head in ("order_asked_by_shop", "order_asked_by_key", "order_asked_by_token")
}
_READ_BY_SHOP = ONE_ORDER_STATEMENTS["order_asked_by_shop"]
_READ_BY_KEY = ONE_ORDER_STATEMENTS["order_asked_by_key"]
_READ_BY_TOKEN = ONE_ORDER_STATEMENTS["order_asked_by_token"]


async def get_order_and_alerts(
    conn: Conn, shop_id: str, order_id: str
) -> tuple[OrderView, list[AlertRow]] | None:
    """The order, as ``get_order`` reads it, and its open alerts, oldest first."""
    return _order_and_alerts(await conn.fetchrow(_READ_BY_SHOP, shop_id, order_id))


async def get_order_for_key(
    conn: Conn, *, key_id: str, key_hash: str, order_id: str
) -> tuple[OrderView, list[AlertRow]] | None:
    """``get_order_and_alerts`` of the shop of the active API key ``key_id`` whose hash is
    ``key_hash``, in the same round trip as the key check; None when there is no such key or
    its shop has no such order."""
    return _order_and_alerts(await conn.fetchrow(_READ_BY_KEY, key_id, order_id, key_hash))


async def get_order_for_token(
    conn: Conn, *, key_id: str, shop_id: str, order_id: str
) -> tuple[OrderView, list[AlertRow]] | None:
    """``get_order_and_alerts`` of ``shop_id`` if ``key_id`` (the key a token names) is an
    active key of that shop, in one round trip; None otherwise."""
    return _order_and_alerts(await conn.fetchrow(_READ_BY_TOKEN, key_id, order_id, shop_id))


def _order_and_alerts(row: Record | None) -> tuple[OrderView, list[AlertRow]] | None:
    if row is None:
        return None
    view = parse_view(row["view"]).model_copy(update={"history": entries_of_columns(row)})
    return view, alerts_from_rows(row["alerts"])


@dataclass(frozen=True)
class ListStatements:
    """The statements of a list request: its page; the count of all matches; the plan whose
    row estimate tells a short list from a long one; and the page of a short list."""

    page_sql: str
    page_args: tuple[object, ...]
    count_sql: str
    count_args: tuple[object, ...]
    estimate_sql: str
    short_page_sql: str


@dataclass(frozen=True)
class ListEstimate:
    """What the planner expects of a list: how many orders match, and what counting them
    costs (its cost units), from ``EXPLAIN`` of the count (``estimate_sql``), not run."""

    rows: int
    count_cost: float

    @classmethod
    def of_plan(cls, plan: list[dict[str, Any]]) -> "ListEstimate":
        aggregate = plan[0]["Plan"]
        # Parallel plans are off in list transactions (force_custom_plans), so the count is one
        # Aggregate over one scan, and the scan's rows are all the rows.
        return cls(int(aggregate["Plans"][0]["Plan Rows"]), float(aggregate["Total Cost"]))

    @property
    def short(self) -> bool:
        return self.rows <= SHORT_LIST_UP_TO

    @property
    def cheap_count(self) -> bool:
        return self.count_cost <= EXACT_COUNT_COST_UP_TO


@dataclass(frozen=True)
class ListTotal:
    """X-Total-Count: exact, or the planner's estimate (``estimated``)."""

    count: int
    estimated: bool


# Every statement of a list reads its rows with `FROM orders WHERE <condition>`, unaliased.
_OPEN_ALERT = (
    "EXISTS (SELECT 1 FROM order_alerts a WHERE a.shop_id = $1 "
    "AND a.order_id = orders.order_id AND a.cleared_at IS NULL)"
)


def list_statements(
    shop_id: str,
    filters: OrderFilters,
    *,
    sort: SortField,
    descending: bool,
    limit: int,
    offset: int,
) -> ListStatements:
    where = ["shop_id = $1", "NOT deleted"]
    params: list[object] = [shop_id]

    def param(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    states = list(dict.fromkeys(s.value for s in filters.states))
    states_param = states_clause = ""
    if len(states) == 1:
        # PostgreSQL 15 cannot keep (shop_id, state) index order under `= ANY`; `=` can.
        where.append(f"state = {param(states[0])}")
    elif states:
        states_param = param(states)
        states_clause = f"state = ANY({states_param}::text[])"
        where.append(states_clause)
    if len(filters.order_ids) == 1:
        where.append(f"order_id = {param(filters.order_ids[0])}")
    elif filters.order_ids:
        where.append(f"order_id = ANY({param(filters.order_ids)}::text[])")
    compared: list[tuple[str, object]] = [
        ("order_date >=", filters.order_date_from),
        ("order_date <=", filters.order_date_to),
        ("updated_at >=", filters.updated_at_from),
        ("updated_at <=", filters.updated_at_to),
        ("boarding_complete =", filters.boarding_complete),
    ]
    where += [f"{column} {param(value)}" for column, value in compared if value is not None]
    if filters.tags:
        where.append(
            "false"
            if filters.tags_contradict
            else f"tags @> {param(json.dumps(filters.tags))}::jsonb"
        )
    if filters.language is not None:
        where.append(f"language = {param(filters.language)}")
    if filters.with_open_alerts:
        where.append(_OPEN_ALERT)
    condition = " AND ".join(where)
    count_args = tuple(params)
    direction = "DESC" if descending else "ASC"
    # order_id breaks ties, so pages are stable while nothing changes.
    order = f"ORDER BY {sort.value} {direction}, order_id {direction}"
    limit_param, offset_param = param(limit), param(offset)
    page_sql = (
        f"SELECT view FROM orders WHERE {condition} {order} "
        f"LIMIT {limit_param} OFFSET {offset_param}"
    )
    if states_param and sort is SortField.STATE:
        page_sql = _per_state_page_sql(
            [w for w in where if w != states_clause],
            states_param,
            len(states),
            paging=(direction, limit_param, offset_param),
        )
    short_page_sql = _short_page_sql(
        filters, sort, condition, page_sql, paging=(direction, limit_param, offset_param)
    )
    return ListStatements(
        page_sql=page_sql,
        page_args=tuple(params),
        count_sql=f"SELECT count(*) FROM orders WHERE {condition}",
        count_args=count_args,
        estimate_sql=f"EXPLAIN (FORMAT JSON) SELECT count(*) FROM orders WHERE {condition}",
        short_page_sql=short_page_sql,
    )


def _per_state_page_sql(
    where: list[str], states_param: str, states: int, *, paging: tuple[str, str, str]
) -> str:
    """The page of a list of several states sorted by state. Under `state = ANY` PostgreSQL 15
    walked the shop's part of the (shop_id, state, order_id) index from its first state and
    dropped the rows of other states: 180-1,140 ms for two states in make bench-api. One
    branch per state reads that state's keys in order_id order from the index, at most offset
    + limit of them; only the keys are sorted, and only the page's views are read. A custom
    plan folds `$n[i]` into a constant the index can use."""
    direction, limit_param, offset_param = paging
    condition = " AND ".join(where)
    branches = " UNION ALL ".join(
        f"(SELECT state, order_id FROM orders WHERE {condition} "
        f"AND state = ({states_param}::text[])[{i}] ORDER BY order_id {direction} "
        f"LIMIT {limit_param}::bigint + {offset_param}::bigint)"
        for i in range(1, states + 1)
    )
    return (
        f"SELECT o.view FROM (SELECT state, order_id FROM ({branches}) AS per_state "
        f"ORDER BY state {direction}, order_id {direction} "
        f"LIMIT {limit_param} OFFSET {offset_param}) AS page "
        "JOIN orders o ON o.shop_id = $1 AND o.order_id = page.order_id "
        f"ORDER BY page.state {direction}, page.order_id {direction}"
    )


def _short_page_sql(
    filters: OrderFilters,
    sort: SortField,
    condition: str,
    page_sql: str,
    *,
    paging: tuple[str, str, str],
) -> str:
    """The page statement of a short list: ``page_sql`` unless a time range is on another
    column than the sort's. ``paging``: the direction and the limit's and offset's
    placeholders, as in the page's SQL."""
    direction, limit_param, offset_param = paging
    # A time range on another column than the sort's: the matches of a short list tend to
    # lie together at one end of the sort column's index (the orders updated last week were
    # placed in the last weeks), and walking that index from the other end to find them cost
    # 250-570 ms in make bench-api (bench/results-api.md). So a short list of that kind is
    # read through the filters' indexes and its top kept (a top-N sort of at most about
    # SHORT_LIST_UP_TO rows, 10-40 ms): its sort key is an expression no index provides. The
    # expressions keep the order: a zero interval added to a time.
    ranged = {
        column
        for column, bounds in (
            ("order_date", (filters.order_date_from, filters.order_date_to)),
            ("updated_at", (filters.updated_at_from, filters.updated_at_to)),
        )
        if bounds != (None, None)
    }
    if not ranged - {sort.value}:
        return page_sql
    key = f"({sort.value} || '')" if sort is SortField.STATE else f"({sort.value} + '0 s')"
    # Only the keys go through the sort, and only the page's views are read: 15-23 % less
    # time than sorting the rows with their views (9.1 against 10.7 ms for 4,818 rows). The
    # time indexes carry the other sort columns (migration 0011), so on all-visible pages the
    # keys come from the index alone and the table is read for the page only.
    return (
        f"SELECT o.view FROM (SELECT {sort.value}, order_id FROM orders WHERE {condition} "
        f"ORDER BY {key} {direction}, order_id {direction} "
        f"LIMIT {limit_param} OFFSET {offset_param}) AS page "
        "JOIN orders o ON o.shop_id = $1 AND o.order_id = page.order_id "
        f"ORDER BY page.{sort.value} {direction}, page.order_id {direction}"
    )


async def list_orders(
    conn: Conn,
    shop_id: str,
    filters: OrderFilters,
    *,
    sort: SortField,
    descending: bool,
    limit: int,
    offset: int,
    exact_total: bool = False,
) -> tuple[list[OrderView], ListTotal]:
    """One page of orders and the number of orders matching the filters.

    A page that is not full ends the list: its total is exact, with no statement more.
    Otherwise the list is counted when the planner expects the count to be cheap
    (EXACT_COUNT_COST_UP_TO) or ``exact_total`` asks for it; else its total is the planner's
    estimate, never fewer than the orders up to this page's end and one more. A short list
    (at most SHORT_LIST_UP_TO orders expected) is read through its filters' indexes when a
    time range would make walking the sort column's index slow."""
    sql = list_statements(
        shop_id, filters, sort=sort, descending=descending, limit=limit, offset=offset
    )
    # One snapshot, so X-Total-Count agrees with the page. Custom plans: make bench-api
    # measured the count of one list at 205-274 ms with a generic plan and 5-8 ms with custom
    # ones (planning 0.2 ms).
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(query("force_custom_plans"))
        rows, total = await _page_and_total(
            conn, sql, limit=limit, offset=offset, exact_total=exact_total
        )
        views = await with_histories(conn, [parse_view(r["view"]) for r in rows])
    return views, total


async def _page_and_total(
    conn: Conn, sql: ListStatements, *, limit: int, offset: int, exact_total: bool
) -> tuple[list[Record], ListTotal]:
    guess: ListEstimate | None = None
    if sql.short_page_sql == sql.page_sql:
        # One statement for short and long lists: the page comes first, since a page that is
        # not full ends the list and needs neither the estimate nor the count.
        rows = await conn.fetch(sql.page_sql, *sql.page_args)
    else:
        guess = await _estimate(conn, sql)
        page_sql = sql.short_page_sql if guess.short else sql.page_sql
        rows = await conn.fetch(page_sql, *sql.page_args)
    # Rows on a page that is not full are the last ones; an empty page past the first may
    # only be past the end, so it says nothing of the total.
    if len(rows) < limit and (rows or offset == 0):
        return rows, ListTotal(offset + len(rows), estimated=False)
    if guess is None:
        guess = await _estimate(conn, sql)
    if exact_total or guess.cheap_count:
        return rows, ListTotal(int(await conn.fetchval(sql.count_sql, *sql.count_args)), False)
    # A full page may not be the last, whatever the estimate says: a total of at least one
    # more order keeps its `next` link, so a client paging by `Link` never stops early when
    # the planner's statistics lag behind the table (after a bulk import, until ANALYZE).
    seen = offset + len(rows) + 1 if rows else offset
    return rows, ListTotal(max(guess.rows, seen), estimated=True)


async def _estimate(conn: Conn, sql: ListStatements) -> ListEstimate:
    plan = json.loads(await conn.fetchval(sql.estimate_sql, *sql.count_args))
    return ListEstimate.of_plan(plan)
