"""The backlog of `make bench` (d), worker and relay as separate processes on Kafka and
PostgreSQL, for several variants in turns: what a change does to the rate and to each
process's CPU per record, with the variants sharing the machine's drift.

    PYTHONPATH=. .venv/bin/python bench/backlog_ab.py --rounds 3 \\
        --arm base --arm deep:ORDERSTATE_BATCH_MAX_EVENTS=1000 \\
        --arm old@69db27f --arm nogin --sql "nogin:DROP INDEX orders_shop_tags"

An arm is ``NAME``, ``NAME:KEY=VALUE[,KEY=VALUE...]`` (environment of its worker and relay;
``PYTHONPATH=<dir>`` runs the orderstate of that source tree) or ``NAME@COMMIT`` (the worker
and relay of that commit, unpacked with ``git archive``). ``--sql NAME:STATEMENT`` runs a
statement on the arm's database after its migrations, before its processes start. The records
are generated and pre-loaded once; each run has a fresh database and consumer group. Round r
takes the arms in the given order when r is even, reversed when odd. Prints one line per run
and a table of the medians; writes nothing into the repository.
"""

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

import hotpaths
import infra
import pipeline
from run import Bench


@dataclass
class Arm:
    name: str
    settings: dict[str, str] = field(default_factory=dict)
    commit: str | None = None
    sql: list[str] = field(default_factory=list)


def _arm(spec: str) -> Arm:
    if "@" in spec:
        name, commit = spec.split("@", 1)
        return Arm(name, commit=commit)
    name, _, pairs = spec.partition(":")
    settings = {}
    for pair in filter(None, pairs.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{pair!r} in arm {spec!r} is not KEY=VALUE")
        settings[key] = value
    return Arm(name, settings)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--arm", type=_arm, action="append", required=True, dest="arms")
    parser.add_argument("--sql", action="append", default=[], help="NAME:STATEMENT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=10_000, help="simulated orders")
    args = parser.parse_args()
    by_name = {a.name: a for a in args.arms}
    if len(by_name) != len(args.arms):
        parser.error("two arms have the same name")
    for item in args.sql:
        name, sep, statement = item.partition(":")
        if not sep or name not in by_name:
            parser.error(f"--sql {item!r}: give NAME:STATEMENT for one of the arms")
        by_name[name].sql.append(statement)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


@dataclass
class Run:
    arm: str
    round: int
    probe_us: float
    tp: pipeline.Throughput


def _line(run: Run) -> str:
    tp = run.tp
    return (
        f"round {run.round} {run.arm}: {tp.rate:,.0f} events/s; CPU µs per record: worker "
        f"{tp.cpu_us_per_record(pipeline.WORKER):.0f}, relay "
        f"{tp.cpu_us_per_record(pipeline.RELAY):.0f}, postgres "
        f"{tp.cpu_us_per_record('postgres'):.0f}; after start-up: worker "
        f"{_after_start_up(tp, pipeline.WORKER)}, relay {_after_start_up(tp, pipeline.RELAY)}; "
        f"worker busy {tp.cpu.get(pipeline.WORKER, 0.0):.2f} cores; probe {run.probe_us:.1f} µs"
    )


def _median_after_start_up(runs: list[pipeline.Throughput], name: str) -> str:
    values = [t.cpu_us_per_record_after_start_up(name) for t in runs]
    known = [v for v in values if v is not None]
    return "?" if len(known) < len(values) else f"{statistics.median(known):.0f}"


def _after_start_up(tp: pipeline.Throughput, name: str) -> str:
    value = tp.cpu_us_per_record_after_start_up(name)
    return "?" if value is None else f"{value:.0f}"


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    bench = Bench(argparse.Namespace(orders=args.orders))
    bench.logs.mkdir(parents=True, exist_ok=True)
    print(f"runs' logs in {bench.logs}")
    unpacked = tempfile.TemporaryDirectory(prefix="backlog-ab-")
    runs: list[Run] = []
    try:
        for arm in args.arms:
            if arm.commit is not None:
                tree = infra.unpack_services(arm.commit, Path(unpacked.name) / arm.name)
                arm.settings["PYTHONPATH"] = str(tree / "services")
        await bench.preload()
        for round_ in range(1, args.rounds + 1):
            order = args.arms if round_ % 2 else args.arms[::-1]
            for arm in order:
                run = await bench.orderstate(f"{arm.name}{round_}")
                run.settings.update(arm.settings)
                if arm.sql:
                    conn = await asyncpg.connect(run.url)
                    try:
                        for statement in arm.sql:
                            await conn.execute(statement)
                    finally:
                        await conn.close()
                probe = hotpaths.speed_probe()
                tp = await pipeline.throughput(bench.ends, run, bench.offsets, 600.0)
                bench.stop(run)
                runs.append(Run(arm.name, round_, probe, tp))
                print(_line(runs[-1]), flush=True)
    finally:
        await bench.cleanup()
        unpacked.cleanup()
    print()
    print(
        "| arm | events/s, each run | median | worker µs/record, median | relay | postgres "
        "| worker / relay less start-up |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for arm in args.arms:
        mine = [r.tp for r in runs if r.arm == arm.name]
        rates = ", ".join(f"{t.rate:,.0f}" for t in mine)
        median = statistics.median
        print(
            f"| {arm.name} | {rates} | {median(t.rate for t in mine):,.0f} | "
            f"{median(t.cpu_us_per_record(pipeline.WORKER) for t in mine):.0f} | "
            f"{median(t.cpu_us_per_record(pipeline.RELAY) for t in mine):.0f} | "
            f"{median(t.cpu_us_per_record('postgres') for t in mine):.0f} | "
            f"{_median_after_start_up(mine, pipeline.WORKER)} / "
            f"{_median_after_start_up(mine, pipeline.RELAY)} |"
        )


if __name__ == "__main__":
    try:
        asyncio.run(main(_args()))
    except KeyboardInterrupt:
        sys.exit(130)
