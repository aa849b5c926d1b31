"""No named statement is planned above ``jit_above_cost`` on a freshly migrated database.

PostgreSQL compiles a statement with LLVM when its estimated cost passes jit_above_cost
(100,000 by default), and that compilation took 1.7 ms of the 1.9 ms a statement of two
one-row tables ran for. Tables that were never analysed are estimated at their default size,
so a cross join of two of them read as 7.4 million rows: `write_forms` (now two columns of
`batch_reads`), run by every batch, was compiled every time (2.5-3 ms a batch;
bench/results-worker-cost.md). A statement of the write path or the REST API must not depend
on statistics that a table of a few rows never gets.
"""

import re

import asyncpg
import pytest

from orderstate.api.reads import ONE_ORDER_STATEMENTS
from orderstate.projector.queries import QUERIES

# The named statements, and those joined from named fragments.
STATEMENTS = {**QUERIES, **ONE_ORDER_STATEMENTS}

# PREPARE takes these only: the other named statements (SET LOCAL, CREATE TABLE) plan nothing.
_PREPARABLE = re.compile(r"^[\s(]*(SELECT|INSERT|UPDATE|DELETE|WITH|VALUES)\b", re.IGNORECASE)
_TOP_COST = re.compile(r"cost=[\d.]+\.\.([\d.]+)")


def _preparable() -> list[str]:
    return sorted(name for name, sql in STATEMENTS.items() if _PREPARABLE.match(sql))


def test_the_check_covers_the_write_path() -> None:
    names = _preparable()
    assert {"batch_reads", "write_batch", "relay_take_rows", "order_asked_by_key"} <= set(names)
    # Left out: the statements PREPARE refuses, which plan nothing.
    assert set(STATEMENTS) - set(names) == {"force_custom_plans", "migrations_create_table"}


@pytest.mark.parametrize("plans", ["auto", "force_generic_plan"])
async def test_no_statement_is_planned_above_the_jit_threshold(
    database_url: str, plans: str
) -> None:
    # The write path runs on generic plans (queries.sql, lock_batch_orders), which are
    # estimated without the arrays' sizes.
    conn = await asyncpg.connect(database_url, server_settings={"plan_cache_mode": plans})
    try:
        threshold = float(await conn.fetchval("SELECT current_setting('jit_above_cost')"))
        costs = {name: await _top_cost(conn, name) for name in _preparable()}
    finally:
        await conn.close()
    over = {name: cost for name, cost in costs.items() if cost >= threshold}
    assert not over, f"planned at or above jit_above_cost ({threshold}): {over}"


async def _top_cost(conn: asyncpg.Connection, name: str) -> float:
    parameters = len((await conn.prepare(STATEMENTS[name])).get_parameters())
    # EXPLAIN without ANALYZE plans a data-modifying statement without running it.
    await conn.execute(f"PREPARE checked AS {STATEMENTS[name]}")
    try:
        values = f"({', '.join(['NULL'] * parameters)})" if parameters else ""
        plan = [row[0] for row in await conn.fetch(f"EXPLAIN EXECUTE checked{values}")]
    finally:
        await conn.execute("DEALLOCATE checked")
    match = _TOP_COST.search(plan[0])
    assert match is not None, f"{name}: {plan[0]}"
    return float(match.group(1))
