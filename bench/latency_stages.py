"""Where the send → committed view latency goes at a paced rate, step by step.

The latency run of bench/run.py, repeated ``--rounds`` times on fresh topics, database and
group, with the worker started through ``bench/observed.py --stages`` (bench/stages.py): the
age of every event when the worker's fetch task has it, when the pair merge releases it,
when its batch begins to apply and when that batch has committed. Writes
bench/results-latency-stages.md.

    make bench-latency-stages    # = .venv/bin/python bench/latency_stages.py
"""

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import infra
import pipeline
from figures import percentile
from orderstate.simulation.generator import SimConfig, generate
from stages import STEPS

RESULTS = infra.REPO / "bench" / "results-latency-stages.md"
QUANTILES = (50, 90, 99)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1_000.0, help="events/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="of sends per round")
    parser.add_argument("--rounds", type=int, default=3, help="per arm")
    parser.add_argument(
        "--arm",
        action="append",
        default=[],
        metavar="NAME=VALUE[,NAME=VALUE] | @COMMIT",
        help="worker settings of an arm, e.g. ORDERSTATE_MERGE_MARKER_WAIT_MS=5; "
        "PYTHONPATH=<dir> runs the orderstate of that source tree, @COMMIT that commit's "
        "(repeatable; the arms and the defaults take turns, round by round)",
    )
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="max s to wait for idle")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    return parser.parse_args()


def _settings(arm: str, trees: Path) -> dict[str, str]:
    """The environment of an arm's worker; an ``@COMMIT`` arm's code is unpacked under
    ``trees`` (run the defaults against a commit to time what it changed)."""
    if arm.startswith("@"):
        return {"PYTHONPATH": str(infra.unpack_services(arm[1:], trees / arm[1:]) / "services")}
    settings = dict(pair.split("=", 1) for pair in arm.split(",") if pair)
    wrong = [n for n in settings if not n.startswith("ORDERSTATE_") and n != "PYTHONPATH"]
    if wrong:
        raise SystemExit(f"bench: an arm sets orderstate settings or PYTHONPATH only, not {wrong}")
    return settings


async def _round(
    args: argparse.Namespace,
    scratch: infra.Scratch,
    n: int,
    logs: Path,
    arm: str,
    *,
    settings: dict[str, str],
) -> Any:
    topics = scratch.topic_set(f"stages{n}")
    await scratch.create_topics(topics.all)
    run = pipeline.Orderstate(
        scratch.ends,
        await scratch.database(f"stages{n}"),
        topics,
        scratch.group(f"stages{n}"),
        logs / f"round{n}",
        stages=True,
        settings=settings,
    )
    run.start()
    try:
        await infra.wait_group_stable(scratch.ends.kafka, run.group)
        total = int(args.rate * args.seconds)
        # The same records for every arm of a round.
        paced = list(generate(SimConfig(orders=math.ceil(total / 10) + 100, seed=2 + n // 100)))
        lat = await pipeline.latency(scratch.ends, run, paced, rate=args.rate, seconds=args.seconds)
    finally:
        codes = run.stop()
    if codes.get("worker") != 0:
        raise SystemExit(f"bench: the worker of round {n} exited with {codes}")
    ages = json.loads((run.logs / "worker.stages.json").read_text())
    steps: dict[str, list[float]] = {step: ages[step] for step in STEPS}
    steps["committed (seen from outside)"] = lat.committed_ms
    steps["published (read back from Kafka)"] = lat.published_ready_ms
    return {
        "arm": arm,
        "markers_per_s": len(ages["markers"]) / args.seconds,
        "steps": {name: _cuts(values) for name, values in steps.items()},
        "counts": {name: len(values) for name, values in steps.items()},
        "apply_ms": _cuts(ages["apply_ms"]),
        "batch_size": _cuts(ages["batch_size"]),
        "batches": len(ages["apply_ms"]),
        "sent_rate": lat.achieved_rate,
        "cpu": lat.cpu,
    }


def _cuts(values: list[float]) -> dict[int, float]:
    return {q: percentile(values, q) for q in QUANTILES}


def _label(arm: str) -> str:
    return arm.replace("ORDERSTATE_", "").lower() or "defaults"


def render(found: dict[str, Any]) -> str:
    args = found["args"]
    arms = ["", *args.arm]
    by_arm = {arm: [r for r in found["rounds"] if r["arm"] == arm] for arm in arms}
    steps = list(found["rounds"][0]["steps"])
    lines = [
        "# Where the latency goes, step by step",
        "",
        f"Run {found['started']:%Y-%m-%d %H:%M} UTC by `make bench-latency-stages` "
        f"(bench/latency_stages.py {' '.join(found['argv'])}), code "
        f"{found['machine'].get('code', '?')}: {args.rounds} round"
        f"{'s' if args.rounds != 1 else ''} of {args.seconds:g} s at {args.rate:g} events/s per "
        "arm, the arms taking turns (in reverse every other round; the generator of `make "
        "bench`, same mix, the same records for every arm of a round), each on fresh topics, "
        "database and group. Machine speed "
        "before each round (µs per record of the fixed workload of bench/results.md, lower is "
        "faster): "
        + ", ".join(f"{s:.1f}" for _, s in found["speed"])
        + f"; CPU in use by others before the run: {found['load_before']:.2f} cores.",
        "",
        "Age of an event (ms since its Kafka timestamp, set when the producer was handed it; "
        "the producer lingers up to 5 ms) when:",
        "",
        "- **fetched**: the worker's fetch task has it from `getmany` (producer batching, the "
        "broker, the fetch, and the worker's event loop busy with something else);",
        "- **released**: the pair merge released it (waiting for the twin partition's clock or "
        "a merge marker);",
        "- **applying**: its batch began to apply (waiting for the batch before it and for its "
        "own to close);",
        "- **committed**: its batch's transaction committed; **committed (seen from outside)** "
        "is the upper bound of `make bench` (a poller every 5 ms), **published** the outbound "
        "event read back from Kafka.",
        "",
        "Median over the rounds of each round's p50 / p99, in ms:",
        "",
        "| step | " + " | ".join(_label(arm) for arm in arms) + " |",
        "|---|" + "---|" * len(arms),
    ]
    for step in steps:
        cells = []
        for arm in arms:
            p50 = statistics.median(r["steps"][step][50] for r in by_arm[arm])
            p99 = statistics.median(r["steps"][step][99] for r in by_arm[arm])
            cells.append(f"{p50:.0f} / **{p99:.0f}**")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    for what, key in (("batch apply, ms", "apply_ms"), ("batch size, events", "batch_size")):
        cells = [
            f"{statistics.median(r[key][50] for r in by_arm[arm]):.0f} / "
            f"{statistics.median(r[key][99] for r in by_arm[arm]):.0f}"
            for arm in arms
        ]
        lines.append(f"| {what} | " + " | ".join(cells) + " |")
    cells = [f"{statistics.median(r['markers_per_s'] for r in by_arm[arm]):.0f}" for arm in arms]
    lines.append("| merge markers written per s | " + " | ".join(cells) + " |")
    for name in ("orderstate worker", "kafka broker", "host, all processes"):
        cells = [
            f"{statistics.median(r['cpu'].get(name, math.nan) for r in by_arm[arm]):.2f}"
            for arm in arms
        ]
        lines.append(f"| CPU of {name}, cores | " + " | ".join(cells) + " |")
    lines += ["", "Every round, p50 / p90 / p99 in ms:", ""]
    lines.append("| arm | round | " + " | ".join(steps) + " |")
    lines.append("|---|---|" + "---|" * len(steps))
    for n, r in enumerate(found["rounds"]):
        cells = [
            f"{r['steps'][step][50]:.0f} / {r['steps'][step][90]:.0f} / {r['steps'][step][99]:.0f}"
            for step in steps
        ]
        lines.append(f"| {_label(r['arm'])} | {n // len(arms) + 1} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    trees = tempfile.TemporaryDirectory(prefix="latency-stages-")
    environment = {arm: _settings(arm, Path(trees.name)) for arm in ["", *args.arm]}
    ends = infra.endpoints()
    scratch = infra.Scratch(ends)
    logs = infra.REPO / ".local" / "bench" / scratch.run_id
    found: dict[str, Any] = {
        "args": args,
        "argv": sys.argv[1:],
        "rounds": [],
        "machine": await infra.machine(ends),
    }
    with infra.phase("wait for a quiet machine (other sessions may share it)"):
        found["load_before"] = await infra.wait_for_quiet(max_wait_s=args.quiet_wait)
    found["started"] = datetime.now(UTC)
    try:
        for n in range(args.rounds):
            arms = list(enumerate(["", *args.arm]))
            # Every other round in reverse, so that no arm always runs first or last in a round.
            for a, arm in arms if n % 2 == 0 else arms[::-1]:
                with infra.phase(f"round {n + 1} of {args.rounds}, {_label(arm)}"):
                    began = time.monotonic()
                    found["rounds"].append(
                        await _round(
                            args, scratch, n * 100 + a, logs, arm, settings=environment[arm]
                        )
                    )
                    c = found["rounds"][-1]["steps"]["committed"]
                    print(
                        f"   committed p50 {c[50]:.0f} ms, p99 {c[99]:.0f} ms "
                        f"({time.monotonic() - began:.0f} s)"
                    )
    finally:
        await scratch.cleanup()
        trees.cleanup()
    found["speed"] = list(infra.SPEED)
    print()
    infra.show_page(render(found), RESULTS, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_args())))
