"""What the arguments of the batch's write statement cost to send, by column type, and whether
sending rows as one JSON text would be cheaper than one array per column.

    PYTHONPATH=. .venv/bin/python bench/param_cost.py

The write statement (queries.sql, ``write_batch``) takes every column of every row it writes
as an array parameter: about 45 array elements and 2 kB of JSON text per event on the backlog
(bench/results-worker-cost.md). asyncpg encodes each element in the worker's one thread, so
that cost is on the worker's critical path. Two measurements, on one connection of the local
PostgreSQL, CPU of this process (``time.process_time``: the encoding, the protocol and the
socket writes) and of its backend (/proc/<pid>/schedstat):

1. **By type:** ``SELECT 1 WHERE $1::<type>[] IS NULL`` with an array of 500 elements of one
   type, so PostgreSQL only receives the array. Client µs per element, less the same
   statement's cost with an empty array (its round trip, spread over the elements).
2. **A row table, three ways:** 500 rows of the history table's ten columns inserted into a
   temporary table from ``unnest`` of ten arrays (as write_batch does), from
   ``json_to_recordset`` of one JSON text, and from ``jsonb_array_elements`` of one JSON text
   of arrays. Client and server µs per row.

Prints Markdown; writes nothing. Each figure is the best of five runs of 20 statements.
"""

import argparse
import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pydantic_core

import infra

ROWS = 500
_REPEAT = 20
_RUNS = 5


def _history_rows(now: datetime) -> list[tuple[Any, ...]]:
    """Rows shaped like write_batch's history columns: shop, order, sequence, state, two
    times, the cause's id, late, location, the offset in seconds."""
    return [
        (
            f"shop-{i % 5}",
            f"order-{i:08d}",
            i % 7 + 1,
            "paid",
            now - timedelta(seconds=i),
            now,
            f"{i:08x}-5d1c-4e7a-9b1f-0123456789ab",
            False,
            None,
            0,
        )
        for i in range(ROWS)
    ]


_BY_TYPE: dict[str, tuple[str, Callable[[datetime], list[Any]]]] = {
    "text, 14 characters (an order id)": (
        "text",
        lambda _: [f"order-{i:08d}" for i in range(ROWS)],
    ),
    "text, 1.2 kB (an order event)": ("text", lambda _: ["x" * 1200 for _ in range(ROWS)]),
    "int8": ("int8", lambda _: list(range(ROWS))),
    "bool": ("bool", lambda _: [i % 2 == 0 for i in range(ROWS)]),
    "timestamptz": ("timestamptz", lambda now: [now - timedelta(seconds=i) for i in range(ROWS)]),
    "NULL (in a text array)": ("text", lambda _: [None] * ROWS),
}

_TABLE = (
    "CREATE TEMPORARY TABLE param_cost (shop_id text, order_id text, seq int8, state text, "
    "occurred_at timestamptz, recorded_at timestamptz, cause text, late bool, location text, "
    "offset_s int4)"
)
_COLUMNS = (
    "shop_id text, order_id text, seq int8, state text, occurred_at timestamptz, "
    "recorded_at timestamptz, cause text, late bool, location text, offset_s int4"
)
_NAMES = [c.split()[0] for c in _COLUMNS.split(", ")]
_WAYS: dict[str, tuple[str, Callable[[list[tuple[Any, ...]]], list[Any]]]] = {
    "unnest of ten arrays (write_batch today)": (
        "INSERT INTO param_cost SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], "
        "$4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::bool[], $9::text[], "
        "$10::int4[])",
        lambda rows: [list(column) for column in zip(*rows, strict=True)],
    ),
    "json_to_recordset of one JSON text of objects": (
        f"INSERT INTO param_cost SELECT * FROM json_to_recordset($1::json) AS t({_COLUMNS})",  # noqa: S608 -- constant text
        lambda rows: [
            pydantic_core.to_json([dict(zip(_NAMES, r, strict=True)) for r in rows]).decode()
        ],
    ),
    "jsonb_array_elements of one JSON text of arrays": (
        "INSERT INTO param_cost SELECT e->>0, e->>1, (e->>2)::int8, e->>3, "
        "(e->>4)::timestamptz, (e->>5)::timestamptz, e->>6, (e->>7)::bool, e->>8, "
        "(e->>9)::int4 FROM jsonb_array_elements($1::jsonb) e",
        lambda rows: [pydantic_core.to_json(rows).decode()],
    ),
}


async def _best(
    conn: asyncpg.Connection,
    clock: infra.ServerClock,
    sql: str,
    arguments: Callable[[], list[Any]],
    after: str | None = None,
) -> tuple[float, float]:
    """Client and server CPU seconds of ``_REPEAT`` statements, the best of ``_RUNS``; the
    arguments are built inside the timed loop, as the worker builds its own."""
    await conn.execute(sql, *arguments())
    best = (float("inf"), float("inf"))
    for _ in range(_RUNS):
        server, client = clock.ns(), time.process_time()
        for _ in range(_REPEAT):
            await conn.execute(sql, *arguments())
        run = (time.process_time() - client, (clock.ns() - server) / 1e9)
        if after is not None:
            await conn.execute(after)
        best = min(best, run)
    return best


async def _main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    conn = await asyncpg.connect(infra.endpoints().database_url)
    clock = infra.ServerClock(conn.get_server_pid())
    now = datetime.now(UTC)
    try:
        print(f"Arrays of {ROWS} elements, client CPU per element:\n")
        print("| element | µs |\n|---|---|")
        for name, (pg_type, values) in _BY_TYPE.items():
            built = values(now)
            sql = f"SELECT 1 WHERE $1::{pg_type}[] IS NULL"
            empty, _ = await _best(conn, clock, sql, lambda: [[]])
            client, _ = await _best(conn, clock, sql, partial(list, [built]))
            print(f"| {name} | {(client - empty) / _REPEAT / ROWS * 1e6:.2f} |")
        await conn.execute(_TABLE)
        rows = _history_rows(now)
        print(f"\n{ROWS} history rows of ten columns into a table, CPU per row:\n")
        print("| the rows sent as | client µs | PostgreSQL µs | both |\n|---|---|---|---|")
        for name, (sql, arguments) in _WAYS.items():
            client, server = await _best(
                conn, clock, sql, partial(arguments, rows), after="TRUNCATE param_cost"
            )
            per = (client / _REPEAT / ROWS * 1e6, server / _REPEAT / ROWS * 1e6)
            print(f"| {name} | {per[0]:.2f} | {per[1]:.2f} | {sum(per):.2f} |")
    finally:
        clock.close()
        await conn.close()


if __name__ == "__main__":
    asyncio.run(_main())
