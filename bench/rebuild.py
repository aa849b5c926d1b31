"""`make bench` (and `make bench-rebuild` alone): `orderstate rebuild` of 1,000,000 records.

The simulated traffic of the other rows (orderstate.simulation.generator) is published to two
bench-owned inbound topics (6 partitions each), then `python -m orderstate rebuild` replays
them into a new, empty database, as an operator runs it: one process, its own consumer
group, migration, the topic checks, the replay and the take-over included. Reported: the
replay's records/s and seconds as the command prints them, the command's wall time, and
its CPU time (from wait4). Writes bench/results-rebuild.md. Every database, topic and group
it makes is removed at the end. See bench/README.md, "(f) rebuild".
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from aiokafka import AIOKafkaProducer

import infra
from figures import number
from orderstate.simulation.generator import SimConfig, generate
from tests.support.kafka import TopicNames

RESULTS = Path(__file__).resolve().parent / "results-rebuild.md"
# The generator's average: records per simulated order (bench/results.md, "The input").
_RECORDS_PER_ORDER = 11.3
_REPLAYED = re.compile(r"replayed\s+([\d,]+) records in ([\d,.]+) s \(([\d,]+) records/s\)")
_WAITING = re.compile(r"waiting\s+([\d,]+) records")
_ORDERS = re.compile(r"orders\s+([\d,]+)")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records to replay")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="max s to wait for idle")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    parser.add_argument(
        "--services",
        nargs=2,
        metavar=("KAFKA", "DATABASE_URL"),
        help="services of another checkout on 127.0.0.1 (default: this checkout's, as "
        "`make services-up` started them)",
    )
    return parser.parse_args()


async def _publish(kafka: str, topics: TopicNames, records: int) -> tuple[Counter[str], float]:
    """The first ``records`` records of the simulation, streamed (a million do not fit in
    memory comfortably as a list); returns the count per topic role and the seconds."""
    config = SimConfig(orders=int(records / _RECORDS_PER_ORDER) + 1, seed=1)
    topic_for = {"orders_in": topics.orders, "shipments_in": topics.shipments}
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=20
    )
    await producer.start()
    mix: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        inflight: list[asyncio.Future[object]] = []
        for n, r in enumerate(generate(config)):
            if n >= records:
                break
            mix[r.role.value] += 1
            inflight.append(
                await producer.send(
                    topic_for[r.role.value], value=r.value, key=r.key, headers=r.headers
                )
            )
            if len(inflight) >= 5000:
                await asyncio.gather(*inflight)
                inflight.clear()
        await asyncio.gather(*inflight)
    finally:
        await producer.stop()
    return mix, time.perf_counter() - started


def _rebuild(env: dict[str, str], url: str, log: Path) -> tuple[int, str, float, float]:
    """Run `orderstate rebuild` to its end: exit code, output, wall seconds, CPU seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "orderstate", "rebuild", "--database-url", url, "--no-carry"],
            env={**env, "COLUMNS": "120"},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, log.read_text(), wall, usage.ru_utime + usage.ru_stime


def _number(pattern: re.Pattern[str], text: str, group: int = 1) -> float:
    match = pattern.search(text)
    if match is None:
        raise SystemExit(f"bench: the rebuild's output lacks {pattern.pattern!r}:\n{text}")
    return float(match[group].replace(",", ""))


def _report(records: int, figures: dict[str, str], machine: dict[str, str]) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in figures.items())
    host = "\n".join(f"| {name} | {value} |" for name, value in machine.items())
    return f"""# `orderstate rebuild` of {records:,} records

Written by `bench/rebuild.py` (`make bench`, or `make bench-rebuild` alone) on
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. What the figures mean: bench/README.md, "(f) rebuild".

| figure | value |
| --- | --- |
{rows}

## Machine

| | |
| --- | --- |
{host}
"""


async def main() -> None:
    args = _args()
    if args.services:
        kafka, url = args.services
        ends = infra.Endpoints(kafka, url, postmaster_pid=0, kafka_pid=0)
    else:
        ends = infra.endpoints()
    scratch = infra.Scratch(ends)
    run_dir = infra.REPO / ".local" / "bench" / f"rebuild-{scratch.run_id}"
    try:
        topics = scratch.topic_set("rebuild")
        await scratch.create_topics(topics.all)
        print(f"== publishing {args.records:,} records", flush=True)
        mix, published_s = await _publish(ends.kafka, topics, args.records)
        target = await scratch.database("rebuilt", migrated=False)
        group = scratch.group("rebuild")
        # The rebuild's own group is named after the live group and the target database.
        scratch.groups.append(f"{group}.rebuild.{urlsplit(target).path.lstrip('/')}")
        env = infra.orderstate_env(target, ends.kafka, topics, group)
        load = await infra.wait_for_quiet(max_wait_s=args.quiet_wait)
        print(f"== orderstate rebuild (other load {load:.2f} cores)", flush=True)
        code, out, wall, cpu = _rebuild(env, target, run_dir / "rebuild.log")
        print(out, flush=True)
        if code != 0:
            raise SystemExit(f"bench: orderstate rebuild exited {code}")
        replayed = _number(_REPLAYED, out)
        figures = {
            "records replayed (inbound topics, 6 partitions each)": f"{replayed:,.0f} "
            f"({mix['orders_in']:,} on the orders topic, "
            f"{mix['shipments_in']:,} on the shipments topic)",
            "orders rebuilt": f"{_number(_ORDERS, out):,.0f}",
            "replay rate (the command's own figure)": f"{_number(_REPLAYED, out, 3):,.0f} "
            "records/s",
            "replay time": f"{_number(_REPLAYED, out, 2):,.1f} s",
            "command wall time (start-up, migration, checks, replay, take-over)": (
                f"{wall:,.1f} s"
            ),
            "command CPU time (user + system)": f"{cpu:,.1f} s, "
            f"{number(cpu / replayed * 1e6, 1)} µs per record",
            "records left waiting for a merge marker": f"{_number(_WAITING, out):,.0f}",
            "other load before the run": f"{load:.2f} cores",
            "publishing the records (not part of the rebuild)": f"{published_s:,.1f} s",
        }
        for name, value in figures.items():
            print(f"   {name}: {value}")
        if not args.no_write:
            RESULTS.write_text(
                _report(args.records, figures, await infra.machine(ends)), encoding="utf-8"
            )
            print(f"wrote {RESULTS}")
    finally:
        for problem in await scratch.cleanup():
            print(f"cleanup: {problem}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
