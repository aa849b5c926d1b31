"""The worker's own CPU per event (decode_record and apply_batch, without Kafka) for the code of
a given commit and for the working tree, in turns, in one run on the same records.

    PYTHONPATH=. .venv/bin/python bench/worker_cost.py --before 398ef72 --rounds 4

Each turn is a fresh child process that imports orderstate from one source tree (the commit's,
unpacked with ``git archive``, or this checkout's: first on its PYTHONPATH), generates the same
simulated records, migrates its own fresh database with that tree's migrations, and decodes and
applies every record in batches of 500 as the worker does, on one asyncpg connection. It reads
its own CPU time (``time.process_time``: the Python of decode and apply plus asyncpg's
encoding, not PostgreSQL's), so the figure is the worker's per-event work that does not depend
on Kafka; and its PostgreSQL backend's CPU in apply_batch (``/proc/<pid>/schedstat``, so the
server must be local). With ``--warm-records N`` a turn first applies the first N records
untimed, in batches of 500, and analyses the tables: PostgreSQL plans a statement of a fresh
database differently from one of a database in service, and the timed batches then write to
tables of that size. Each turn then times three pure steps alone on the same records, in a
tight loop: reading and decoding them (read_record, decode_record), and apply_batch's decide
and fact_rows. The whole apply moves with PostgreSQL and the machine, and a change to one step
can be smaller than that spread.
Turns alternate which variant goes first, so a drift of the machine's speed falls on both.
Writes a section into bench/results-worker-cost.md unless ``--no-write``.
"""

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

import infra
from hotpaths import speed_probe
from orderstate.domain import Accepted, PolicyBook, decide
from orderstate.events.decode import DecodeLimits
from orderstate.projector.apply import apply_batch
from orderstate.projector.inputs import Incoming
from orderstate.projector.migrate import migrate
from orderstate.projector.outbox_rows import fact_rows
from orderstate.simulation.generator import SimConfig, generate
from pipeline import read_inputs

REPO = Path(__file__).resolve().parents[1]
# gc.set_threshold in services/orderstate/launch/parts.py. Set here, not imported, because the
# turns import the code of older commits too, and both variants must run under the same
# collector.
_WORKER_GC_THRESHOLDS = (10_000, 20, 10)
RESULTS = Path(__file__).with_name("results-worker-cost.md")


async def _child(url: str, orders: int, seed: int, batch: int, warm: int) -> dict[str, Any]:
    records = list(generate(SimConfig(orders=orders, seed=seed)))
    if warm >= len(records):
        raise SystemExit(f"--warm-records {warm} leaves none of the {len(records)} records")
    conn = await asyncpg.connect(url)
    server = infra.ServerClock(conn.get_server_pid())
    try:
        await migrate(conn)
        limits = DecodeLimits()
        policies = PolicyBook()
        offsets: Counter[str] = Counter()
        # Untimed: the first records fill the tables in backlog batches, and ANALYZE gives the
        # planner the statistics a database in service has. On fresh, never-analysed tables
        # PostgreSQL plans differently (it kept generic plans where an analysed database made
        # a custom plan on every run).
        for start in range(0, warm, 500):
            inputs = read_inputs(records[start : min(start + 500, warm)], offsets, limits)
            await apply_batch(
                conn, inputs, policies=policies, now=datetime.now(UTC), consumer_group="cost"
            )
        if warm:
            await conn.execute("ANALYZE")
        records = records[warm:]
        decode_cpu = apply_cpu = apply_wall = 0.0
        backend_ns = 0
        # The records stay alive for the whole turn, which a worker's do not: the collector
        # would walk them again and again.
        gc.collect()
        gc.freeze()
        # The collector as the worker sets it after start-up (launch/parts.py). With Python's
        # default thresholds, the decoded events this turn keeps were walked again and again:
        # decode_record read 50-57 µs per record instead of 25-32 (2026-12-04).
        gc.set_threshold(*_WORKER_GC_THRESHOLDS)
        decoded: list[Any] = []
        for start in range(0, len(records), batch):
            c0 = time.process_time()
            inputs = read_inputs(records[start : start + batch], offsets, limits)
            decoded.extend(i.decoded for i in inputs if isinstance(i, Incoming))
            s1 = server.ns()
            c1, w1 = time.process_time(), time.perf_counter()
            await apply_batch(
                conn, inputs, policies=policies, now=datetime.now(UTC), consumer_group="cost"
            )
            c2, w2 = time.process_time(), time.perf_counter()
            backend_ns += server.ns() - s1
            decode_cpu += c1 - c0
            apply_cpu += c2 - c1
            apply_wall += w2 - w1
    finally:
        server.close()
        await conn.close()
    n = len(records)
    return {
        "records": n,
        "warm_records": warm,
        "decode_us": decode_cpu / n * 1e6,
        "apply_us": apply_cpu / n * 1e6,
        "apply_wall_us": apply_wall / n * 1e6,
        "backend_us": backend_ns / n / 1e3,
        **_in_memory(records, decoded, policies),
    }


def _in_memory(records: list[Any], decoded: list[Any], policies: PolicyBook) -> dict[str, float]:
    """The worker's three pure steps alone, in a tight loop over the turn's records (best of
    three, collector off): reading and decoding each record, and apply_batch's decide and
    fact_rows. Steadier than the turn's own decode and apply, which a drift of the machine or
    of PostgreSQL moves, so a change to one of them shows in its own row."""
    now = datetime.now(UTC)
    accepted: list[tuple[Any, Any]] = []
    read_s = decide_s = fact_rows_s = float("inf")
    limits = DecodeLimits()
    gc.disable()
    try:
        for _ in range(3):
            c0 = time.process_time()
            read_inputs(records, Counter(), limits)
            read_s = min(read_s, time.process_time() - c0)
        for _ in range(3):
            views: dict[tuple[str, str], Any] = {}
            accepted = []
            c0 = time.process_time()
            for d in decoded:
                key = (d.event.shopid, d.event.orderid)
                decision = decide(views.get(key), d.change, policies.for_shop(key[0]), now)
                if isinstance(decision, Accepted):
                    views[key] = decision.new_view
                    accepted.append((decision, d.event))
            decide_s = min(decide_s, time.process_time() - c0)
        for _ in range(3):
            c0 = time.process_time()
            for decision, event in accepted:
                fact_rows(decision, cause=event, now=now, first_sequence=1)
            fact_rows_s = min(fact_rows_s, time.process_time() - c0)
    finally:
        gc.enable()
    return {
        "read_us": read_s / len(records) * 1e6,
        "decide_us": decide_s / len(decoded) * 1e6,
        "fact_rows_us": fact_rows_s / max(len(accepted), 1) * 1e6,
    }


@dataclass(frozen=True)
class Workload:
    """What each turn applies: the records of ``orders`` simulated orders, the first ``warm``
    of them untimed, the rest timed in batches of ``batch``."""

    orders: int
    seed: int
    batch: int
    warm: int

    def args(self) -> list[str]:
        return [
            "--orders",
            str(self.orders),
            "--seed",
            str(self.seed),
            "--batch",
            str(self.batch),
            "--warm-records",
            str(self.warm),
        ]


def _turn(tree: Path, url: str, load: Workload) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'services'}{os.pathsep}{REPO}"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--url", url, *load.args()],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the turn of {tree} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def _compare(before: str, rounds: int, load: Workload) -> dict[str, Any]:
    head = infra.git("rev-parse", "--short", "HEAD")
    dirty = infra.git("status", "--porcelain", "services")
    ends = infra.endpoints()
    scratch = infra.Scratch(ends)
    turns: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    probes: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": infra.unpack_services(before, Path(tmp)), "after": REPO}
        try:
            for k in range(rounds):
                order = ("before", "after") if k % 2 == 0 else ("after", "before")
                for variant in order:
                    probes.append(speed_probe())
                    url = await scratch.database(f"{variant}{k}", migrated=False)
                    result = await asyncio.to_thread(_turn, trees[variant], url, load)
                    turns[variant].append(result)
                    print(
                        f"round {k + 1} {variant}: decode {result['decode_us']:.1f} µs, "
                        f"apply {result['apply_us']:.1f} µs CPU per record "
                        f"(apply wall {result['apply_wall_us']:.1f} µs)",
                        flush=True,
                    )
        finally:
            problems = await scratch.cleanup()
            for problem in problems:
                print(f"cleanup: {problem}", file=sys.stderr)
    return {
        "before": before,
        "after": f"{head}{' + working tree' if dirty else ''}",
        "rounds": rounds,
        "orders": load.orders,
        "seed": load.seed,
        "batch": load.batch,
        "warm": load.warm,
        "records": turns["after"][0]["records"],
        "turns": turns,
        "probes": probes,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _median(turns: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(t[key] for t in turns))


def _row(label: str, key: str, b: list[dict[str, Any]], a: list[dict[str, Any]]) -> str:
    each_b = ", ".join(f"{t[key]:.1f}" for t in b)
    each_a = ", ".join(f"{t[key]:.1f}" for t in a)
    return f"| {label} | {each_b} | {each_a} | {_median(a, key) / _median(b, key):.2f}x |"


def section(run: dict[str, Any], title: str) -> str:
    b, a = run["turns"]["before"], run["turns"]["after"]
    warm = run.get("warm", 0)
    warm_arg = f" --warm-records {warm}" if warm else ""
    warm_text = (
        f", after {warm:,} records before them were applied untimed and the tables analysed"
        if warm
        else ""
    )
    lines = [
        f"## {title}",
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/worker_cost.py --before {run['before']} "
        f"--rounds {run['rounds']} --orders {run['orders']} --batch {run['batch']}{warm_arg}` "
        f"on {run['when']}: {run['records']:,} simulated records (seed {run['seed']}) in "
        f"batches of {run['batch']}{warm_text}, "
        f"{run['before']} against {run['after']}, in turns. The speed probe "
        f"(µs per decoded record, lower is faster) read "
        f"{min(run['probes']):.1f}-{max(run['probes']):.1f}.",
        "",
        "| CPU µs per record | before: each turn | after: each turn | median after / before |",
        "| --- | --- | --- | --- |",
    ]
    for key, label in (
        ("decode_us", "decode_record"),
        ("apply_us", "apply_batch (Python and asyncpg)"),
    ):
        lines.append(_row(label, key, b, a))
    total_b = statistics.median(t["decode_us"] + t["apply_us"] for t in b)
    total_a = statistics.median(t["decode_us"] + t["apply_us"] for t in a)
    lines.append(
        f"| **both** | median {total_b:.1f} | median {total_a:.1f} | **{total_a / total_b:.2f}x** |"
    )
    # Turns of a version of this script before these rows were added have no such figures.
    if all("backend_us" in t for t in (*b, *a)):
        lines.append(_row("PostgreSQL's backend, in apply_batch's statements", "backend_us", b, a))
    if all("read_us" in t for t in (*b, *a)):
        lines.append(_row("in memory: read_record and decode_record, per record", "read_us", b, a))
    if all("fact_rows_us" in t for t in (*b, *a)):
        for key, label in (
            ("decide_us", "of it, in memory: decide, per decoded event"),
            ("fact_rows_us", "of it, in memory: fact_rows, per accepted change"),
        ):
            lines.append(_row(label, key, b, a))
    wall_b, wall_a = _median(b, "apply_wall_us"), _median(a, "apply_wall_us")
    lines += [
        "",
        f"apply_batch wall time per record (with PostgreSQL's round trips), median: "
        f"{wall_b:.1f} µs before, {wall_a:.1f} µs after; per batch of {run['batch']}: "
        f"{wall_b * run['batch'] / 1000:.2f} ms before, {wall_a * run['batch'] / 1000:.2f} ms "
        "after.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="the commit to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--batch",
        type=int,
        default=500,
        help="events per apply_batch: 500 as on a backlog, about 13 as at 1,000 events/s",
    )
    parser.add_argument(
        "--warm-records",
        type=int,
        default=0,
        help="apply this many of the records first, untimed, in batches of 500, then ANALYZE: "
        "the tables and statistics of a database in service",
    )
    parser.add_argument("--title", default="", help="the section's title")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(
            _child(args.url, args.orders, args.seed, args.batch, args.warm_records)
        )
        print(json.dumps(result))
        return 0
    if not args.before:
        parser.error("--before COMMIT is needed")
    load = Workload(args.orders, args.seed, args.batch, args.warm_records)
    run = asyncio.run(_compare(args.before, args.rounds, load))
    text = section(run, args.title or f"{run['before']} against {run['after']}")
    print(text)
    if not args.no_write:
        head = (
            RESULTS.read_text()
            if RESULTS.exists()
            else "# The worker's own CPU per record, before and after a change\n\n"
            "Sections are added by `bench/worker_cost.py`, newest last.\n\n"
        )
        RESULTS.write_text(head + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
