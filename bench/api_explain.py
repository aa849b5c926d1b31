"""EXPLAIN ANALYZE of the list endpoint's statements (the page and X-Total-Count) for every
documented filter combined with every ``order_by``, exactly as the API runs them when the
page is full: the planner's estimate first (``reads.ListEstimate``: the rows, and the cost of
counting them); a short list (at most ``SHORT_LIST_UP_TO`` expected) gets its short-list page,
a long one the page along the sort index; a list whose count the planner expects to be cheap
(``EXACT_COUNT_COST_UP_TO``) is counted, any other gets the estimate as its total (its "count"
row is then the estimate statement, timed). Parallel plans are off, as in the API.

The SQL comes from ``orderstate.api.reads.list_statements``, which the API runs. asyncpg runs
each statement as a server-side prepared statement; with ``plan_cache_mode = auto``
PostgreSQL plans the first five executions for their values and may then switch to one
generic plan, which is why the API lists with ``force_custom_plan``. Each statement is
PREPAREd, executed five times, and the sixth execution is explained: the plan the API keeps
using under the given plan_cache_mode.
"""

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from orderstate.api.reads import ListEstimate, OrderFilters, SortField, list_statements
from orderstate.domain import OrderState

ORDER_BYS = ["order_date", "-order_date", "updated_at", "-updated_at", "state", "-state"]
DEFAULT_ORDER_BY = "order_date"
PAGE = 20
BIG_SORT_ROWS = 1_000  # a Sort over more input rows than this is reported as a big sort
# An index scan that reads and throws away more rows than this is not bounded by its index:
# the filter is applied row by row, which is how a filter without an index shows.
UNBOUNDED_ROWS = 10_000


LOAD_CASE = "state=paid + tag channel:web (the load run's list)"


@dataclass(frozen=True)
class Case:
    label: str
    query: str  # the filters as the API's query string
    filters: OrderFilters
    documented: str  # which documented filter it exercises ("" for none)


def cases(end: datetime) -> list[Case]:
    month = (end - timedelta(days=120), end - timedelta(days=90))
    week = (end - timedelta(days=7), end)

    def iso(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    return [
        Case("no filter", "", OrderFilters(), ""),
        Case("state=paid", "filters[state]=paid", OrderFilters(states=[OrderState.PAID]), "state"),
        Case(
            "state=shipped or in_preparation",
            "filters[state]=shipped&filters[state]=in_preparation",
            OrderFilters(states=[OrderState.SHIPPED, OrderState.IN_PREPARATION]),
            "state",
        ),
        Case(
            "order_date: a 30-day range",
            f"filters[order_date_from]={iso(month[0])}&filters[order_date_to]={iso(month[1])}",
            OrderFilters(order_date_from=month[0], order_date_to=month[1]),
            "order_date range",
        ),
        Case(
            "updated_at: the last 7 days",
            f"filters[updated_at_from]={iso(week[0])}&filters[updated_at_to]={iso(week[1])}",
            OrderFilters(updated_at_from=week[0], updated_at_to=week[1]),
            "updated_at range",
        ),
        Case(
            "boarding_complete=false",
            "filters[boarding_complete]=false",
            OrderFilters(boarding_complete=False),
            "boarding_complete",
        ),
        Case(
            "tag channel:web (50 %)",
            "filters[tag]=channel:web",
            OrderFilters(tags={"channel": "web"}),
            "tag",
        ),
        Case(
            "tag campaign:bf (8 %)",
            "filters[tag]=campaign:bf",
            OrderFilters(tags={"campaign": "bf"}),
            "tag",
        ),
        Case("language=fr", "filters[language]=fr", OrderFilters(language="fr"), "language"),
        Case(
            LOAD_CASE,
            "filters[state]=paid&filters[tag]=channel:web",
            OrderFilters(states=[OrderState.PAID], tags={"channel": "web"}),
            "state, tag",
        ),
    ]


@dataclass
class Plan:
    sql: str
    execution_ms: float
    planning_ms: float
    generic: bool
    nodes: list[dict[str, Any]]
    shared_hit: int
    shared_read: int
    jit: bool
    seq_scan: bool = False
    big_sort: bool = False
    unbounded: bool = False
    summary: str = ""
    estimate: ListEstimate | None = None  # set on the estimate statement's row

    @property
    def ok(self) -> bool:
        return not self.seq_scan and not self.big_sort and not self.unbounded


@dataclass
class CaseResult:
    case: Case
    count: Plan
    pages: dict[str, Plan] = field(default_factory=dict)


def statements(
    shop_id: str, filters: OrderFilters, order_by: str
) -> tuple[tuple[str, tuple[Any, ...]], tuple[str, tuple[Any, ...]], str, str]:
    """(page along the sort index, count) statements with their arguments, and the short
    list's page and the estimate statement (same arguments as the page and the count), as the
    API builds them."""
    sql = list_statements(
        shop_id,
        filters,
        sort=SortField(order_by.lstrip("-")),
        descending=order_by.startswith("-"),
        limit=PAGE,
        offset=0,
    )
    return (
        (sql.page_sql, sql.page_args),
        (sql.count_sql, sql.count_args),
        sql.short_page_sql,
        sql.estimate_sql,
    )


async def estimate(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...]) -> Plan:
    """The estimate statement as the API runs it (its EXPLAIN, timed; nothing is executed)."""
    started = time.perf_counter()
    text = await conn.fetchval(sql, *args)
    ms = (time.perf_counter() - started) * 1000
    guess = ListEstimate.of_plan(json.loads(text))
    return Plan(
        sql=sql,
        execution_ms=ms,
        planning_ms=ms,
        generic=False,
        nodes=[],
        shared_hit=0,
        shared_read=0,
        jit=False,
        summary=f"planner estimate {guess.rows:,} rows, count cost {guess.count_cost:,.0f} "
        "(X-Total-Count estimated, nothing counted)",
        estimate=guess,
    )


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]::text[]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no literal for {value!r}")


def _walk(node: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    found = [{**{k: v for k, v in node.items() if k != "Plans"}, "depth": depth}]
    for child in node.get("Plans", []):
        found += _walk(child, depth + 1)
    return found


def _describe(nodes: list[dict[str, Any]]) -> tuple[str, bool, bool, bool]:
    """A one-line summary of the scan and sort nodes, and whether the plan has a sequential
    scan, a big sort, or a scan that throws away more than UNBOUNDED_ROWS rows."""
    parts, seq, big, unbounded = [], False, False, False
    for i, n in enumerate(nodes):
        kind = n["Node Type"]
        rows = int(n.get("Actual Rows", 0) * n.get("Actual Loops", 1))
        if "Seq Scan" in kind:
            seq = True
            parts.append(f"**{kind}** {n.get('Relation Name', '')} ({rows:,} rows)")
        elif "Index" in kind and "Scan" in kind:
            name = n.get("Index Name", "")
            direction = " Backward" if n.get("Scan Direction") == "Backward" else ""
            removed = int(n.get("Rows Removed by Filter", 0) * n.get("Actual Loops", 1))
            text = f"{kind}{direction} {name} ({rows:,} rows{_removed(removed)})"
            unbounded |= removed > UNBOUNDED_ROWS
            parts.append(f"**{text}**" if removed > UNBOUNDED_ROWS else text)
        elif kind == "Bitmap Heap Scan":
            removed = int(n.get("Rows Removed by Filter", 0)) + int(
                n.get("Rows Removed by Index Recheck", 0)
            )
            text = f"Bitmap Heap Scan ({rows:,} rows{_removed(removed)})"
            unbounded |= removed > UNBOUNDED_ROWS
            parts.append(f"**{text}**" if removed > UNBOUNDED_ROWS else text)
        elif kind in ("Sort", "Incremental Sort"):
            child = next((c for c in nodes[i + 1 :] if c["depth"] == n["depth"] + 1), None)
            sorted_rows = (
                int(child.get("Actual Rows", 0) * child.get("Actual Loops", 1)) if child else 0
            )
            if sorted_rows > BIG_SORT_ROWS:
                big = True
                parts.append(f"**{kind}** of {sorted_rows:,} rows ({n.get('Sort Method', '')})")
            else:
                parts.append(f"{kind} of {sorted_rows:,} rows")
        elif kind in ("BitmapAnd", "BitmapOr"):
            parts.append(kind)
    return "; ".join(parts), seq, big, unbounded


def _removed(n: int) -> str:
    return f", {n:,} filtered out" if n else ""


async def plan(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...], *, warm: int = 5) -> Plan:
    await conn.execute(f"PREPARE bench_q AS {sql}")
    try:
        execute = f"EXECUTE bench_q({', '.join(_literal(a) for a in args)})"
        for _ in range(warm):
            await conn.execute(execute)
        text = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {execute}")
    finally:
        await conn.execute("DEALLOCATE bench_q")
    top = json.loads(text)[0]
    nodes = _walk(top["Plan"])
    summary, seq, big, unbounded = _describe(nodes)
    return Plan(
        sql=sql,
        execution_ms=float(top["Execution Time"]),
        planning_ms=float(top.get("Planning Time", 0.0)),
        # A generic plan compares with the parameters themselves ($1), not with values.
        generic="$1" in json.dumps(top["Plan"]),
        nodes=nodes,
        shared_hit=int(top["Plan"].get("Shared Hit Blocks", 0)),
        shared_read=int(top["Plan"].get("Shared Read Blocks", 0)),
        jit="JIT" in top,
        seq_scan=seq,
        big_sort=big,
        unbounded=unbounded,
        summary=summary,
    )


async def matrix(
    url: str,
    shop_id: str,
    end: datetime,
    *,
    plan_cache_mode: str = "force_custom_plan",
    only: list[str] | None = None,
) -> list[CaseResult]:
    """Every case (or the ``only`` labels) x every order_by."""
    conn = await asyncpg.connect(
        url,
        server_settings={
            "plan_cache_mode": plan_cache_mode,
            "max_parallel_workers_per_gather": "0",
        },
    )
    results = []
    try:
        for case in cases(end):
            if only is not None and case.label not in only:
                continue
            page_results: dict[str, Plan] = {}
            count_plan: Plan | None = None
            short = False
            for order_by in ORDER_BYS:
                (page_sql, page_args), (count_sql, count_args), short_sql, estimate_sql = (
                    statements(shop_id, case.filters, order_by)
                )
                if count_plan is None:  # neither depends on the order
                    guess = await estimate(conn, estimate_sql, count_args)
                    assert guess.estimate is not None  # noqa: S101 -- estimate() sets it
                    short = guess.estimate.short
                    counted = guess.estimate.cheap_count
                    count_plan = await plan(conn, count_sql, count_args) if counted else guess
                page_results[order_by] = await plan(
                    conn, short_sql if short else page_sql, page_args
                )
            if count_plan is None:
                raise AssertionError("ORDER_BYS is empty")
            results.append(CaseResult(case, count_plan, page_results))
    finally:
        await conn.close()
    return results


def problems(results: list[CaseResult]) -> list[str]:
    """Every (filter, order_by) whose plan has a sequential scan, a big sort or an unbounded
    scan."""
    found = []
    for r in results:
        if not r.count.ok:
            found.append(f"{r.case.label}, X-Total-Count: {r.count.summary}")
        for order_by, p in r.pages.items():
            if not p.ok:
                found.append(f"{r.case.label}, order_by={order_by}: {p.summary}")
    return found
