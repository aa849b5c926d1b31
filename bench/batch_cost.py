"""What a worker's batch costs by its size: CPU per statement on both sides, from 1 to 500
events per batch.

    PYTHONPATH=. .venv/bin/python bench/batch_cost.py          # or: make bench-batch-cost

On a backlog the worker applies 500 events per batch; at a shop's everyday rate a batch holds
a few (1.4 at 100 events/s, 6.4 at 200, about 13 at 1,000). Whatever it holds, a batch runs
the same statements, so their fixed cost falls on fewer events. This measures it: for each
size, a fresh migrated database and the same first records of the simulation (seed 1),
decoded and applied ``size`` at a time through apply_batch in this process, on one asyncpg
connection and on uvloop as in the worker, without Kafka (``pipeline.statement_profile``).
Every statement is metered: the wall time of its round trip, this process's CPU in it
(asyncpg's encoding and protocol, and the loop's wake-up) and its PostgreSQL backend's CPU
meanwhile (/proc/<pid>/schedstat, so the server must be local). The rest of apply_batch's CPU
is its Python. Two rounds, the sizes in reverse order in the second, so a drift of the
machine's speed falls on both ends; the figures are the mean of the two. A straight line
through the sizes up to 25 events splits each cost into a part per batch and a part per
event. Writes bench/results-batch-cost.md unless ``--no-write``.
"""

import argparse
import asyncio
import gc
import statistics
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import uvloop

import infra
import pipeline
from hotpaths import speed_probe
from orderstate.launch.parts import GC_THRESHOLDS
from orderstate.simulation.generator import SimConfig, SimRecord, generate

RESULTS = Path(__file__).with_name("results-batch-cost.md")
SIZES = (1, 2, 5, 10, 25, 100, 500)
# Batches of up to this many events are the paced range (about 13 at 1,000 events/s).
PACED_MAX = 25


@dataclass
class Turn:
    """One size's run, costs in µs per batch."""

    size: int
    batches: int
    statements: float  # per batch
    decode: float
    python: float  # apply_batch's own, without the statements' client side
    asyncpg: float
    server: float
    server_others: float  # PostgreSQL's other processes (WAL writer, checkpointer, ...)
    apply_wall: float
    per_statement: dict[str, tuple[float, float, float, float]]  # calls, client, server, wall

    @property
    def worker(self) -> float:
        return self.decode + self.python + self.asyncpg


async def _turn(scratch: infra.Scratch, records: list[SimRecord], size: int, name: str) -> Turn:
    url = await scratch.database(name)
    tree0 = infra.tree_cpu_seconds(scratch.ends.postmaster_pid)
    p = await pipeline.statement_profile(url, records, batch=size, max_s=float("inf"))
    tree = infra.tree_cpu_seconds(scratch.ends.postmaster_pid) - tree0
    client = sum(c.client_cpu_s for c in p.statements)
    server = sum(c.server_cpu_s for c in p.statements)
    n = p.batches
    return Turn(
        size=size,
        batches=n,
        statements=sum(c.calls for c in p.statements) / n,
        decode=p.decode_cpu_s / n * 1e6,
        python=(p.apply_cpu_s - client) / n * 1e6,
        asyncpg=client / n * 1e6,
        server=server / n * 1e6,
        # The tree's ticks are 10 ms each; over a run of seconds that is close enough, and a
        # reading below the backend's own is noise, not negative work.
        server_others=max(0.0, tree - server) / n * 1e6,
        apply_wall=p.apply_s / n * 1e6,
        per_statement={
            c.name: (
                c.calls / n,
                c.client_cpu_s / c.calls * 1e6,
                c.server_cpu_s / c.calls * 1e6,
                c.wall_s / c.calls * 1e6,
            )
            for c in p.statements
        },
    )


def _mean(turns: list[Turn]) -> Turn:
    """The rounds' turns of one size, averaged field by field."""
    averaged = {
        f.name: statistics.fmean(getattr(t, f.name) for t in turns)
        for f in fields(Turn)
        if f.name not in ("size", "batches", "per_statement")
    }
    names = {name for t in turns for name in t.per_statement}
    return Turn(
        size=turns[0].size,
        batches=turns[0].batches,
        per_statement={name: _statement_mean(turns, name) for name in names},
        **averaged,
    )


def _statement_mean(turns: list[Turn], name: str) -> tuple[float, float, float, float]:
    # A round that did not make the statement counts 0 calls of it; its costs per call are
    # the mean of the rounds that made it.
    present = [t.per_statement[name] for t in turns if name in t.per_statement]
    calls = sum(s[0] for s in present) / len(turns)
    client, server, wall = (statistics.fmean(s[i] for s in present) for i in (1, 2, 3))
    return calls, client, server, wall


def fit(sizes: list[int], costs: list[float]) -> tuple[float, float]:
    """Least squares of cost per batch = fixed + per_event * size: (fixed, per_event)."""
    mx, my = statistics.fmean(sizes), statistics.fmean(costs)
    sxx = sum((x - mx) ** 2 for x in sizes)
    slope = sum((x - mx) * (y - my) for x, y in zip(sizes, costs, strict=True)) / sxx
    return my - slope * mx, slope


@dataclass
class Run:
    records: int
    means: list[Turn]  # per size, ascending
    rounds: list[list[Turn]]
    probes: list[float]
    seconds: float
    when: str
    commit: str


async def measure(records_n: int, sizes: tuple[int, ...]) -> Run:
    # About 11 records per order: the first records_n hold the whole lives of most orders.
    records = list(generate(SimConfig(orders=records_n // 10 + 50, seed=1)))[:records_n]
    # As the worker after start-up (launch/parts.py); the records stay alive for the whole run.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    scratch = infra.Scratch(infra.endpoints())
    probes: list[float] = []
    rounds: list[list[Turn]] = []
    started = time.perf_counter()
    try:
        for r, order in enumerate((sizes, tuple(reversed(sizes)))):
            probes.append(speed_probe())
            turns = []
            for size in order:
                t = await _turn(scratch, records, size, f"r{r}_b{size}")
                print(
                    f"   round {r + 1}, batches of {size}: {t.batches:,} batches, worker "
                    f"{t.worker / size:,.0f} µs and PostgreSQL {t.server / size:,.0f} µs CPU "
                    "per event",
                    flush=True,
                )
                turns.append(t)
            rounds.append(sorted(turns, key=lambda t: t.size))
            await scratch.drop_databases()
            scratch.databases.clear()
        probes.append(speed_probe())
    finally:
        await scratch.drop_databases()
    means = [_mean([a, b]) for a, b in zip(rounds[0], rounds[1], strict=True)]
    return Run(
        records=len(records),
        means=means,
        rounds=rounds,
        probes=probes,
        seconds=time.perf_counter() - started,
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=infra.git("rev-parse", "--short", "HEAD"),
    )


def report(run: Run) -> str:
    means, probes = run.means, run.probes
    lines = [
        "# What a batch costs by its size",
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/batch_cost.py` at {run.commit} on "
        f"{run.when}: the first {run.records:,} simulated records (seed 1), decoded and "
        "applied through apply_batch in batches of each size, without Kafka, two rounds "
        f"({run.seconds:.0f} s). The speed probe (µs per decoded record, 17-19 on this "
        f"machine's best days) read {min(probes):.1f}-{max(probes):.1f}. How it is measured: "
        "the docstring of bench/batch_cost.py.",
        "",
        "## Per batch and per event",
        "",
        "CPU µs per batch, the mean of the two rounds. *Worker* is what the worker process "
        "spends on a batch outside Kafka: decode_record, apply_batch's Python and asyncpg's "
        "side of the statements. *PostgreSQL* is the connection's backend; its other processes "
        "(WAL writer, checkpointer) are the next column.",
        "",
        "| events per batch | statements | decode | apply's Python | asyncpg | **worker** | "
        "**PostgreSQL** | its other processes | apply wall | worker per event | "
        "PostgreSQL per event |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in means:
        lines.append(
            f"| {t.size} | {t.statements:.1f} | {t.decode:,.0f} | {t.python:,.0f} | "
            f"{t.asyncpg:,.0f} | **{t.worker:,.0f}** | **{t.server:,.0f}** | "
            f"{t.server_others:,.0f} | {t.apply_wall:,.0f} | {t.worker / t.size:,.0f} | "
            f"{t.server / t.size:,.0f} |"
        )
    # The paced range: a line through all sizes would follow the 500-event point alone.
    paced = [t for t in means if t.size <= PACED_MAX]
    if len(paced) < 2:
        paced = means
    lines += [
        "",
        "A straight line through the sizes of up to "
        f"{max(t.size for t in paced)} events (a paced worker's batches), cost per batch = "
        "fixed + per event * size, least squares over the means:",
        "",
        "| CPU | fixed µs per batch | µs per event |",
        "|---|---:|---:|",
    ]
    for label, values in (
        ("decode_record", [t.decode for t in paced]),
        ("apply_batch's Python", [t.python for t in paced]),
        ("asyncpg, in the statements", [t.asyncpg for t in paced]),
        ("**worker**", [t.worker for t in paced]),
        ("**PostgreSQL backend**", [t.server for t in paced]),
    ):
        fixed, per_event = fit([t.size for t in paced], values)
        lines.append(f"| {label} | {fixed:,.0f} | {per_event:,.1f} |")
    for size in (1, 10):
        shown = next((m for m in means if m.size == size), None)
        if shown is None:
            continue
        lines += [
            "",
            f"## The statements of a batch of {size}",
            "",
            "By PostgreSQL's CPU per batch, largest first; µs per call, the mean of the two "
            "rounds.",
            "",
            "| statement | calls per batch | asyncpg CPU | PostgreSQL CPU | wall |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, (calls, client, server, wall) in sorted(
            shown.per_statement.items(), key=lambda kv: kv[1][0] * kv[1][2], reverse=True
        ):
            lines.append(f"| {name} | {calls:.2f} | {client:,.0f} | {server:,.0f} | {wall:,.0f} |")
    rounds = run.rounds
    lines += [
        "",
        "## Each round",
        "",
        "Worker and PostgreSQL CPU µs per event, round 1 (sizes upwards) and round 2 (sizes "
        "downwards): how far the two readings of one size lie apart.",
        "",
        "| events per batch | worker, round 1 | round 2 | PostgreSQL, round 1 | round 2 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for a, b in zip(rounds[0], rounds[1], strict=True):
        lines.append(
            f"| {a.size} | {a.worker / a.size:,.0f} | {b.worker / b.size:,.0f} | "
            f"{a.server / a.size:,.0f} | {b.server / b.size:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=3000, help="records applied per size")
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=SIZES,
        help="events per batch, comma-separated",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if min(args.sizes) < 1 or len(set(args.sizes)) < 2:
        parser.error("--sizes needs two or more different sizes of 1 or more")
    # The worker's event loop (ORDERSTATE_EVENT_LOOP's default): each round trip's wake-up is
    # part of what a statement costs the client.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        run = runner.run(measure(args.records, tuple(sorted(set(args.sizes)))))
    infra.show_page(report(run), RESULTS, write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
