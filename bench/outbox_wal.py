"""What an outbound order event costs PostgreSQL between the worker and the broker: the WAL and
the backend CPU of writing it to the order event log and the outbox, the relay taking it, and
the relay marking it sent. Two arms, in turns, each in a fresh migrated database, both with
the relay's own statements (relay_take_rows, relay_mark_sent):

- **with text**: the outbox row holds a copy of the event's text, as every release before
  migration 0012 wrote it (and this one until `orderstate migrate --outbox-by-reference` on
  a database that had orders);
- **by reference**: the outbox row holds the event's sequence and no text; the relay reads
  the text of its order event log row.

    PYTHONPATH=. .venv/bin/python bench/outbox_wal.py --rounds 4

Prints, per arm and turn: WAL bytes (pg_current_wal_lsn before and after), the backend's CPU
µs (/proc of the PostgreSQL backend serving the connection), and the wall time of each
statement, per event. The relay's update rewrites the whole outbox row (PostgreSQL keeps no
partial row versions, and sent_at is in the outbox's partial indexes, so the update is never
HOT): with the text in the row, the event's text is written to the WAL three times.
"""

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

import infra
from orderstate.projector.queries import query
from relay_drain import _event

_INSERT_LOG = """
INSERT INTO order_events (shop_id, order_id, sequence, event_id, type, event, history_len)
SELECT sh, o, $5, e, 'order.state_changed', ev, 3
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(sh, o, e, ev)
"""
_INSERT_OUTBOX = """
INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, event, sequence, created_at)
SELECT 'order_events_out', l, sh, o, e, ev, $6, $7
FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[])
     WITH ORDINALITY AS u(l, sh, o, e, ev, n)
ORDER BY n
"""
_INSERT_OUTBOX_REF = """
INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, sequence, created_at)
SELECT 'order_events_out', l, sh, o, e, $5, $6
FROM unnest($1::int[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(l, sh, o, e, n)
ORDER BY n
"""
_ARMS = ("with text", "by reference")


async def _turn(url: str, arm: str, batches: int, batch: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        lanes = list(range(64))
        wall = dict.fromkeys(("log", "outbox", "take", "mark"), 0.0)

        async def one(k: int, timed: bool) -> None:
            events = [_event(k * batch + i) for i in range(batch)]
            _, lane, shop, order, event_id, text = zip(*events, strict=True)
            # Each batch is the next outbound event of the same orders: sequence k + 1.
            steps: list[tuple[str, str, tuple[Any, ...]]] = [
                ("log", _INSERT_LOG, (list(shop), list(order), list(event_id), list(text), k + 1))
            ]
            now = datetime.now(UTC)
            args: tuple[Any, ...]
            if arm == "with text":
                args = (list(lane), list(shop), list(order), list(event_id), list(text), k + 1, now)
                steps.append(("outbox", _INSERT_OUTBOX, args))
            else:
                args = (list(lane), list(shop), list(order), list(event_id), k + 1, now)
                steps.append(("outbox", _INSERT_OUTBOX_REF, args))
            for name, sql, params in steps:
                t0 = time.perf_counter()
                await conn.execute(sql, *params)
                wall[name] += (time.perf_counter() - t0) if timed else 0.0
            t0 = time.perf_counter()
            async with conn.transaction():
                rows = await conn.fetch(query("relay_take_rows"), lanes, batch)
                if len(rows) != batch or any(r["event"] is None for r in rows):
                    raise RuntimeError(f"{arm}: took {len(rows)} rows, some without text")
                t1 = time.perf_counter()
                await conn.execute(query("relay_mark_sent"), [r["id"] for r in rows], now)
            if timed:
                wall["take"] += t1 - t0
                wall["mark"] += time.perf_counter() - t1

        for k in range(3):  # warm-up: plans, caches
            await one(k, timed=False)
        lsn0 = await conn.fetchval("SELECT pg_current_wal_lsn()")
        cpu0 = infra.cpu_seconds(backend)
        for k in range(3, 3 + batches):
            await one(k, timed=True)
        cpu1 = infra.cpu_seconds(backend)
        wal = await conn.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", lsn0)
    finally:
        await conn.close()
    n = batches * batch
    return {
        "wal": float(wal) / n,
        "cpu": (cpu1 - cpu0) / n * 1e6,
        **{name: seconds / n * 1e6 for name, seconds in wall.items()},
    }


async def _main(rounds: int, batches: int, batch: int) -> None:
    scratch = infra.Scratch(infra.endpoints())
    results: dict[str, list[dict[str, float]]] = {arm: [] for arm in _ARMS}
    try:
        for k in range(rounds):
            for arm in _ARMS if k % 2 == 0 else tuple(reversed(_ARMS)):
                url = await scratch.database(f"{arm.replace(' ', '_')}{k}")
                r = await _turn(url, arm, batches, batch)
                results[arm].append(r)
                print(
                    f"round {k + 1} {arm:12s}: WAL {r['wal']:,.0f} B, backend CPU "
                    f"{r['cpu']:.1f} µs; wall µs: log {r['log']:.1f}, outbox {r['outbox']:.1f}, "
                    f"take {r['take']:.1f}, mark {r['mark']:.1f} (per event)",
                    flush=True,
                )
    finally:
        for problem in await scratch.cleanup():
            print(f"cleanup: {problem}", file=sys.stderr)
    print(
        f"\n{rounds} rounds of {batches} batches of {batch} events, medians per event:\n\n"
        "| arm | WAL bytes | backend CPU µs | log | outbox | take | mark (wall µs) |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    for arm in _ARMS:
        m = {key: statistics.median(r[key] for r in results[arm]) for key in results[arm][0]}
        print(
            f"| {arm} | {m['wal']:,.0f} | {m['cpu']:.1f} | {m['log']:.1f} | "
            f"{m['outbox']:.1f} | {m['take']:.1f} | {m['mark']:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=60, help="timed batches per turn")
    parser.add_argument("--batch", type=int, default=500, help="events per batch")
    args = parser.parse_args()
    asyncio.run(_main(args.rounds, args.batches, args.batch))


if __name__ == "__main__":
    main()
