"""What sending write_batch's rows as arrays of composite rows would save, against the arrays
of columns it sends today, measured on the arguments of real batches.

    PYTHONPATH=. .venv/bin/python bench/composite_rows.py --orders 3000 --rounds 3

write_batch (queries.sql) takes every table's rows as one array per column, and asyncpg checks
each element of each array against two ABCs (``Iterable`` and ``Sized``) to tell nested arrays
from scalars: 2.2-2.5 % of the worker's CPU in a sampled profile. An array of composite rows
(``CREATE TYPE ... AS (...)``, ``unnest($1::row_type[])``) costs those checks once per row, not
once per value. This measures that alternative before anyone migrates the schema for it.

How: a fresh database is migrated and the simulated backlog (``--orders``) is decoded and
applied in batches of 500 as the worker does (``apply_batch``), while the arguments of every
write_batch are kept. The worker's CPU per record of that replay (decode and apply, the
process's CPU, with the worker's collector thresholds) and its PostgreSQL backend's are the
yardsticks. Then the kept arguments are
cut into row sets: the array parameters of one CTE of write_batch (write_statement.PARTS) with
the same length in every batch are one table's columns. Each row set gets a composite type of
its columns' types, and for every batch each row set with rows is sent both ways in a
statement that only unnests it (``SELECT count(*) FROM unnest(...)``): the client's CPU
(asyncpg's encoding and the round trip's Python) and the backend's (decoding the parameters).
The two forms take turns, round by round. What the tables do with the rows afterwards is the
same in both forms and is not measured; nor is building the rows from the views (one attribute
read per value either way: into a column list today, into a row tuple then).

Writes bench/results-composite-rows.md unless ``--no-write``.
"""

import argparse
import asyncio
import gc
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
import uvloop

import infra
from hotpaths import speed_probe
from orderstate.domain import PolicyBook
from orderstate.events.decode import DecodeLimits
from orderstate.launch.parts import GC_THRESHOLDS
from orderstate.projector import writes
from orderstate.projector.apply import apply_batch
from orderstate.projector.queries import query
from orderstate.projector.write_statement import PARTS, WriteStatement, statement_with
from orderstate.simulation.generator import SimConfig, generate
from pipeline import read_inputs

RESULTS = Path(__file__).with_name("results-composite-rows.md")
_ARRAY = re.compile(r"\$(\d+)::(\w+)\[\]")
FORMS = ("columns", "rows")
# The name writes.py calls the statement's cut by (it imports it from write_statement.py).
_WRITE_STATEMENT = "write_statement"


@dataclass(frozen=True)
class RowSet:
    """Array parameters of write_batch that hold the columns of one set of rows."""

    part: str
    parameters: tuple[int, ...]
    types: tuple[str, ...]


def array_types(sql: str) -> dict[int, str]:
    """write_batch's array parameters and their element types, from the casts in its text."""
    found: dict[int, str] = {}
    for number, type_name in _ARRAY.findall(sql):
        n = int(number)
        if found.setdefault(n, type_name) != type_name:
            raise ValueError(f"${n} is cast to {found[n]}[] and to {type_name}[]")
    return found


def row_sets(
    parts: Sequence[tuple[str, Sequence[int]]],
    types: dict[int, str],
    batches: Sequence[Sequence[Any]],
) -> list[RowSet]:
    """The array parameters of each part (a CTE and the parameters it uses), grouped by their
    lengths in every batch: columns of one row set have one length in every batch. Groups that
    share a parameter are one row set, named after the first part: the delete of an order's
    stale items uses three of the columns that the items' upsert uses. Parameters empty in
    every batch are left out."""
    groups: list[tuple[str, set[int]]] = []
    for part, parameters in parts:
        by_lengths: dict[tuple[int, ...], set[int]] = defaultdict(set)
        for n in parameters:
            if n in types:
                lengths = tuple(len(b[n - 1]) for b in batches)
                if any(lengths):
                    by_lengths[lengths].add(n)
        for members in by_lengths.values():
            for _, group in groups:
                if group & members:
                    group.update(members)
                    break
            else:
                groups.append((part, members))
    return [
        RowSet(part, tuple(sorted(ns)), tuple(types[n] for n in sorted(ns))) for part, ns in groups
    ]


@contextmanager
def kept_arguments(into: list[list[Any]]) -> Iterator[None]:
    """Keep the arguments of every write_batch flushed in the block (writes.py looks the
    statement up by this name); the original is back when the block ends, however it ends."""
    original: Callable[[Sequence[Any]], WriteStatement] = getattr(writes, _WRITE_STATEMENT)

    def keeping(arguments: Sequence[Any]) -> WriteStatement:
        into.append(list(arguments))
        return original(arguments)

    with mock.patch.object(writes, _WRITE_STATEMENT, keeping):
        yield


async def _replay(conn: asyncpg.Connection, orders: int, seed: int) -> dict[str, Any]:
    records = list(generate(SimConfig(orders=orders, seed=seed)))
    # The collector as the worker sets it after start-up (launch/parts.py), with the records
    # frozen: this process keeps every record and every batch's arguments, which a worker does
    # not, and Python's default thresholds would walk them again and again.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    server = infra.ServerClock(conn.get_server_pid())
    kept: list[list[Any]] = []
    offsets: Counter[str] = Counter()
    limits = DecodeLimits()
    policies = PolicyBook()
    cpu = 0.0
    backend = 0
    try:
        with kept_arguments(kept):
            for start in range(0, len(records), 500):
                c0, s0 = time.process_time(), server.ns()
                inputs = read_inputs(records[start : start + 500], offsets, limits)
                await apply_batch(
                    conn, inputs, policies=policies, now=datetime.now(UTC), consumer_group="cr"
                )
                cpu += time.process_time() - c0
                backend += server.ns() - s0
    finally:
        server.close()
    return {
        "records": len(records),
        "batches": kept,
        "worker_us": cpu / len(records) * 1e6,
        "backend_us": backend / len(records) / 1e3,
    }


async def _time_both(
    conn: asyncpg.Connection, sets: list[RowSet], batches: list[list[Any]], rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """Client and backend CPU seconds per round of sending every row set of every batch, in
    each form."""
    server = infra.ServerClock(conn.get_server_pid())
    statements: list[tuple[Any, Any]] = []
    for k, rs in enumerate(sets):
        cols = ", ".join(f"c{i} {t}" for i, t in enumerate(rs.types))
        await conn.execute(f"CREATE TYPE bench_rows_{k} AS ({cols})")
        arrays = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(rs.types))
        # The type names come from write_batch's own text, not from input.
        columns_sql = f"SELECT count(*) FROM unnest({arrays})"  # noqa: S608
        rows_sql = f"SELECT count(*) FROM unnest($1::bench_rows_{k}[])"  # noqa: S608
        statements.append((await conn.prepare(columns_sql), await conn.prepare(rows_sql)))
    work: list[tuple[int, int, list[list[Any]], list[tuple[Any, ...]]]] = []
    for args in batches:
        for k, rs in enumerate(sets):
            columns = [args[n - 1] for n in rs.parameters]
            rows = list(zip(*columns, strict=True))
            if rows:
                work.append((k, len(rows), columns, rows))

    async def send(k: int, n: int, form: int, arguments: Sequence[Any]) -> tuple[float, int]:
        s0 = server.ns()
        c0 = time.process_time()
        got = await statements[k][form].fetchval(*arguments)
        c1 = time.process_time()
        backend = server.ns() - s0
        if got != n:
            raise AssertionError(f"row set {k}: {FORMS[form]} did not unnest to {n} rows")
        return c1 - c0, backend

    timed: dict[str, list[tuple[float, float]]] = {name: [] for name in FORMS}
    try:
        for k, n, columns, rows in work:  # warm: plans, codecs
            await send(k, n, 0, columns)
            await send(k, n, 1, [rows])
        for r in range(rounds):
            client = [0.0, 0.0]
            backend = [0, 0]
            # The forms take turns statement by statement, the first alternating, so that the
            # machine's drift falls on both alike.
            for i, (k, n, columns, rows) in enumerate(work):
                for form in (0, 1) if (r + i) % 2 == 0 else (1, 0):
                    c, b = await send(k, n, form, columns if form == 0 else [rows])
                    client[form] += c
                    backend[form] += b
            for form, name in enumerate(FORMS):
                timed[name].append((client[form], backend[form] / 1e9))
    finally:
        server.close()
    return timed


async def _run(orders: int, seed: int, rounds: int) -> dict[str, Any]:
    ends = infra.endpoints()
    scratch = infra.Scratch(ends)
    probes = [speed_probe()]
    try:
        url = await scratch.database("composite")
        conn = await asyncpg.connect(url)
        try:
            replay = await _replay(conn, orders, seed)
            batches = replay.pop("batches")
            types = array_types(query("write_batch"))
            unknown = [
                n
                for n, value in enumerate(batches[0], start=1)
                if isinstance(value, list) and n not in types
            ]
            if unknown:
                raise SystemExit(f"write_batch arrays without a type cast: {unknown}")
            parts = [(p, statement_with(frozenset({p})).parameters) for p in PARTS]
            sets = row_sets(parts, types, batches)
            probes.append(speed_probe())
            timed = await _time_both(conn, sets, batches, rounds)
            probes.append(speed_probe())
        finally:
            await conn.close()
    finally:
        for problem in await scratch.cleanup():
            print(f"cleanup: {problem}", file=sys.stderr)
    # A row set's columns have one length in every batch: its first column counts its rows.
    counts = [sum(len(b[s.parameters[0] - 1]) for b in batches) for s in sets]
    return {
        **replay,
        "batch_count": len(batches),
        "sets": [(s.part, s.types, n) for s, n in zip(sets, counts, strict=True)],
        "rows": sum(counts),
        "values": sum(len(s.types) * n for s, n in zip(sets, counts, strict=True)),
        "timed": timed,
        "probes": probes,
        "orders": orders,
        "seed": seed,
        "rounds": rounds,
        "head": infra.git("rev-parse", "--short", "HEAD"),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _per_record(run: dict[str, Any], form: str, which: int) -> float:
    return (
        float(statistics.median(t[which] for t in run["timed"][form])) / int(run["records"]) * 1e6
    )


def report(run: dict[str, Any]) -> str:
    n = run["records"]
    client = (_per_record(run, "columns", 0), _per_record(run, "rows", 0))
    backend = (_per_record(run, "columns", 1), _per_record(run, "rows", 1))
    saved_client = client[0] - client[1]
    saved_backend = backend[0] - backend[1]
    lines = [
        "# Arrays of composite rows for write_batch, measured",
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/composite_rows.py --orders {run['orders']} "
        f"--rounds {run['rounds']}` at {run['head']} on {run['when']}. How it is measured: "
        "the docstring of bench/composite_rows.py. Speed probe (µs per record, lower is "
        f"faster): {', '.join(f'{p:.1f}' for p in run['probes'])}.",
        "",
        f"The replay: {n:,} records in {run['batch_count']} write_batch calls. They sent "
        f"{run['rows']:,} rows ({run['rows'] / n:.2f} per record) of "
        f"{run['values']:,} values ({run['values'] / n:.1f} per record) in these row sets:",
        "",
        "| CTE of write_batch | columns | rows |",
        "|---|---:|---:|",
        *(f"| {part} | {len(types)} | {count:,} |" for part, types, count in run["sets"]),
        "",
        f"CPU µs per record, the median of {run['rounds']} rounds, every row set of every "
        "batch sent in a statement that only unnests it:",
        "",
        "| | arrays of columns (today) | arrays of composite rows | saved | replay's CPU "
        "per record | saved, share of it |",
        "|---|---:|---:|---:|---:|---:|",
        f"| worker (client) | {client[0]:.2f} | {client[1]:.2f} | {saved_client:.2f} | "
        f"{run['worker_us']:.1f} | {saved_client / run['worker_us']:.1%} |",
        f"| PostgreSQL backend | {backend[0]:.2f} | {backend[1]:.2f} | {saved_backend:.2f} | "
        f"{run['backend_us']:.1f} | {saved_backend / run['backend_us']:.1%} |",
        "",
        "Each round, client / backend CPU µs per record: "
        + "; ".join(
            f"{form} "
            + ", ".join(f"{c / n * 1e6:.2f} / {b / n * 1e6:.2f}" for c, b in run["timed"][form])
            for form in ("columns", "rows")
        )
        + ".",
        "",
        "The replay's worker CPU is decode_record and apply_batch in one process, without "
        "Kafka, in batches of 500, with the worker's collector thresholds (as "
        "bench/worker_cost.py); the backend's is its connection's "
        "PostgreSQL process over the same apply.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.rounds < 1 or args.orders < 1:
        parser.error("--orders and --rounds must be at least 1")
    # The worker's event loop (ORDERSTATE_EVENT_LOOP's default), as bench/batch_cost.py: each
    # round trip's wake-up is part of what a statement costs the client.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        run = runner.run(_run(args.orders, args.seed, args.rounds))
    infra.show_page(report(run), RESULTS, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
