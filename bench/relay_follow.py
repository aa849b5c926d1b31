"""The relay behind a running worker, for the relay of a given commit and for this checkout's,
in turns, on the same pre-loaded backlog.

    PYTHONPATH=. .venv/bin/python bench/relay_follow.py --before 0ede32f --rounds 2

bench/relay_drain.py times a relay alone on a standing outbox, whose rounds hold one row per
order. Behind a worker a round holds what the worker committed since the last one, often
several rows of one order, and that is what `make bench`'s (d) phase measures. Here the
simulated backlog of `make bench` (fewer orders by default) is published once; each turn gets
a fresh database, consumer group and outbound topics, and starts this checkout's worker with
the variant's relay (``orderstate relay`` with that commit's services/ first on its
PYTHONPATH), timed as (d) times them: from start until the worker is at the end offsets and
the outbox is drained. Turns alternate which variant goes first.

Per turn: events/s, CPU µs per input record of the relay, the worker, the broker and
PostgreSQL, and the relay's rounds, read from the outbox (one round marks its rows with one
acknowledgement time): rows per round, and the most rows of one order in a round, which is
how many waves a round needs when a wave holds one row per order. Writes a section into
bench/relay-drain-results.md unless ``--no-write``.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

import infra
import pipeline
from hotpaths import speed_probe
from orderstate.events.topics import TopicRole
from orderstate.simulation.generator import SimConfig, generate
from tests.support.kafka import TopicNames

RESULTS = Path(__file__).with_name("relay-drain-results.md")

_ROUNDS_SQL = """
SELECT count(*) AS rows, max(per_order) AS deepest
FROM (SELECT sent_at, count(*) OVER (PARTITION BY sent_at, shop_id, order_id) AS per_order
      FROM outbox WHERE sent_at IS NOT NULL) AS t
GROUP BY sent_at
"""


async def _rounds(url: str) -> tuple[list[int], list[int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(_ROUNDS_SQL)
    finally:
        await conn.close()
    return [r["rows"] for r in rows], [r["deepest"] for r in rows]


async def _turn(
    scratch: infra.Scratch,
    name: str,
    inbound: TopicNames,
    offsets: dict[Any, int],
    relay_services: Path | None,
) -> dict[str, Any]:
    own = scratch.topic_set(name)
    await scratch.create_topics([own.order_events, own.rejected])
    topics = TopicNames(
        orders=inbound.orders,
        shipments=inbound.shipments,
        order_events=own.order_events,
        rejected=own.rejected,
        alerts=own.alerts,
    )
    run = pipeline.Orderstate(
        scratch.ends,
        await scratch.database(name),
        topics,
        scratch.group(name),
        infra.REPO / ".local" / "bench" / scratch.run_id / name,
        relay_services=relay_services,
    )
    try:
        tp = await pipeline.throughput(scratch.ends, run, offsets, timeout_s=600)
    finally:
        run.stop()
    per_round, deepest = await _rounds(run.url)
    cpu = tp.cpu
    return {
        "rate": tp.rate,
        "records": tp.records,
        "outbox": tp.outbox_rows,
        "relay_us": cpu[pipeline.RELAY] / tp.rate * 1e6,
        "worker_us": cpu[pipeline.WORKER] / tp.rate * 1e6,
        "broker_us": cpu["kafka broker"] / tp.rate * 1e6,
        "postgres_us": cpu["postgres (all backends)"] / tp.rate * 1e6,
        "rounds": len(per_round),
        "rows_per_round": statistics.mean(per_round),
        "deepest": statistics.mean(deepest),
    }


async def _compare(before: str, rounds: int, orders: int) -> dict[str, Any]:
    ends = infra.endpoints()
    scratch = infra.Scratch(ends)
    turns: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    probes: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        old = infra.unpack_services(before, Path(tmp)) / "services"
        try:
            inbound = scratch.topic_set("in")
            await scratch.create_topics(inbound.inbound)
            roles = {
                TopicRole.ORDERS_IN.value: inbound.orders,
                TopicRole.SHIPMENTS_IN.value: inbound.shipments,
            }
            await infra.produce(ends.kafka, list(generate(SimConfig(orders=orders, seed=1))), roles)
            offsets = await infra.end_offsets(ends.kafka, inbound.inbound)
            for k in range(rounds):
                order = ("before", "after") if k % 2 == 0 else ("after", "before")
                for variant in order:
                    probes.append(speed_probe())
                    services = old if variant == "before" else None
                    result = await _turn(scratch, f"{variant}{k}", inbound, offsets, services)
                    turns[variant].append(result)
                    print(
                        f"round {k + 1} {variant}: {result['rate']:,.0f} events/s, relay "
                        f"{result['relay_us']:.1f} µs per record, {result['rounds']} rounds",
                        flush=True,
                    )
        finally:
            for problem in await scratch.cleanup():
                print(f"cleanup: {problem}", file=sys.stderr)
    head = infra.git("rev-parse", "--short", "HEAD")
    dirty = infra.git("status", "--porcelain", "services")
    return {
        "before": before,
        "after": f"{head}{' + working tree' if dirty else ''}",
        "rounds": rounds,
        "orders": orders,
        "turns": turns,
        "probes": probes,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


_ROWS = (
    ("rate", "events/s, backlog to drained outbox", "{:,.0f}"),
    ("relay_us", "relay CPU µs per input record", "{:.1f}"),
    ("broker_us", "Kafka broker CPU µs per input record", "{:.1f}"),
    ("worker_us", "worker CPU µs per input record", "{:.1f}"),
    ("postgres_us", "PostgreSQL CPU µs per input record", "{:.1f}"),
    ("rounds", "relay rounds", "{:,.0f}"),
    ("rows_per_round", "outbox rows per round, mean", "{:.0f}"),
    ("deepest", "most rows of one order in a round, mean", "{:.1f}"),
)


def section(run: dict[str, Any], title: str) -> str:
    b, a = run["turns"]["before"], run["turns"]["after"]
    first = a[0]
    lines = [
        f"## {title}",
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/relay_follow.py --before {run['before']} "
        f"--rounds {run['rounds']} --orders {run['orders']}` on {run['when']}: "
        f"{first['records']:,} pre-loaded records ({run['orders']:,} simulated orders, seed 1), "
        f"{first['outbox']:,} outbox rows; this checkout's worker with the relay of "
        f"{run['before']} and of {run['after']}, in turns. The speed probe (µs per decoded "
        f"record, lower is faster) read {min(run['probes']):.1f}-{max(run['probes']):.1f}.",
        "",
        "| | before: each turn | after: each turn | median after / before |",
        "| --- | --- | --- | --- |",
    ]
    for key, label, form in _ROWS:
        ratio = statistics.median(t[key] for t in a) / statistics.median(t[key] for t in b)
        lines.append(
            f"| {label} | {', '.join(form.format(t[key]) for t in b)} | "
            f"{', '.join(form.format(t[key]) for t in a)} | {ratio:.2f}x |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the commit whose relay runs first")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--orders", type=int, default=6_000, help="simulated orders")
    parser.add_argument("--title", default="", help="the section's title")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    run = asyncio.run(_compare(args.before, args.rounds, args.orders))
    text = section(run, args.title or f"Behind a worker: {run['before']} against {run['after']}")
    print(text)
    if not args.no_write:
        RESULTS.write_text(RESULTS.read_text() + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
