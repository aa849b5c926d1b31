"""What it costs a worker and a relay to start: CPU, wall time and memory from the command to its
``worker_started`` / ``relay_started`` log line, for the code of an older commit and for the
working tree, each with and without compiled bytecode, in turns, in one run.

    PYTHONPATH=. .venv/bin/python bench/startup.py --before 14f80a7 --rounds 5

Each start is ``python -m orderstate worker|relay --ops-port 0`` on its own fresh consumer group
and this run's database and topics (each source tree's database is migrated by that tree's own
``orderstate migrate``). The process is stopped (SIGTERM) as soon as the line appears; the
figures are read from /proc at that moment.

Bytecode is chosen per start with ``PYTHONPYCACHEPREFIX``, so the arms do not depend on what
``make install`` left in the virtual environment:

- *source*: a prefix that holds only the standard library compiled (as every Python install
  ships it): the packages and orderstate are compiled from source at every start, as they were
  in the image and in ``make install`` before both compiled them;
- *bytecode*: a prefix that also holds the packages of the virtual environment and both source
  trees compiled, as the image's installation now leaves them.

Starts go in turns (the order reversed every other round), so a drift of the machine's speed
falls on every variant. Writes a section into bench/results-startup.md unless ``--no-write``.
"""

import argparse
import asyncio
import compileall
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import infra
from hotpaths import speed_probe

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results-startup.md")
PARTS = ("worker", "relay")
ARMS = ("source", "bytecode")
_STARTED_WITHIN_S = 60.0


def _compile(prefix: Path, directories: list[Path]) -> None:
    """Byte-compile ``directories`` into ``prefix``, as compileall writes __pycache__."""
    sys.pycache_prefix = str(prefix)
    try:
        with warnings.catch_warnings():
            # The standard library's test data holds deliberately odd code.
            warnings.simplefilter("ignore")
            for directory in directories:
                compileall.compile_dir(directory, quiet=2, workers=0)
    finally:
        sys.pycache_prefix = None


def _start_once(
    tree: Path, part: str, prefix: Path, env: dict[str, str], log: Path
) -> dict[str, float]:
    env = {
        **env,
        "PYTHONPATH": str(tree / "services"),
        "PYTHONPYCACHEPREFIX": str(prefix),
        "PYTHONDONTWRITEBYTECODE": "1",
        "ORDERSTATE_LOG_FORMAT": "json",
        "ORDERSTATE_LOG_LEVEL": "INFO",
    }
    wanted = f"{part}_started"
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "orderstate", part, "--ops-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tree,
    )
    assert process.stdout is not None  # noqa: S101 -- stdout=PIPE
    lines: list[str] = []
    try:
        while True:
            raw = process.stdout.readline()
            if not raw:
                raise RuntimeError(
                    f"{part} of {tree} ended before it logged {wanted}:\n" + "".join(lines[-20:])
                )
            line = raw.decode(errors="replace")
            lines.append(line)
            if time.perf_counter() - began > _STARTED_WITHIN_S:
                raise RuntimeError(f"{part} of {tree} did not log {wanted} within 60 s")
            try:
                event = json.loads(line).get("event")
            except ValueError:
                continue
            if event == wanted:
                wall = time.perf_counter() - began
                cpu = infra.cpu_seconds(process.pid)
                rss = infra.status_kb(process.pid, "VmRSS") or 0
                return {"wall_s": wall, "cpu_s": cpu, "rss_mib": rss / 1024}
    finally:
        infra.stop(process)
        with log.open("a") as handle:
            handle.writelines(lines)


def _migrate(tree: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "orderstate", "migrate"],
        env={**env, "PYTHONPATH": str(tree / "services")},
        cwd=tree,
        check=True,
        capture_output=True,
    )


async def _compare(before: str, rounds: int) -> dict[str, Any]:
    ends = infra.endpoints()
    scratch = infra.Scratch(ends)
    work = Path(tempfile.mkdtemp(prefix="orderstate-startup-"))
    trees = {"before": infra.unpack_services(before, work / "before"), "after": REPO}
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    prefixes = {"source": work / "pyc-stdlib", "bytecode": work / "pyc-all"}
    print("compiling the standard library, the packages and both trees ...", flush=True)
    _compile(prefixes["source"], [stdlib])
    _compile(prefixes["bytecode"], [stdlib, site, *(t / "services" for t in trees.values())])
    topics = scratch.topic_set("startup")
    await scratch.create_topics(
        [topics.orders, topics.shipments, topics.order_events, topics.rejected]
    )
    envs: dict[str, dict[str, str]] = {}
    for name, tree in trees.items():
        url = await scratch.database(f"startup_{name}", migrated=False)
        base = {**os.environ, **infra.orderstate_env(url, ends.kafka, topics, "unused")}
        _migrate(tree, base)
        envs[name] = base
    log = work / "starts.log"
    variants = [(t, arm, part) for t in trees for arm in ARMS for part in PARTS]
    turns: list[dict[str, Any]] = []
    probes: list[float] = []
    try:
        for round_no in range(1, rounds + 1):
            probes.append(speed_probe())
            order = variants if round_no % 2 else list(reversed(variants))
            for name, arm, part in order:
                env = {**envs[name], "ORDERSTATE_CONSUMER_GROUP": scratch.group(f"s{len(turns)}")}
                figures = _start_once(trees[name], part, prefixes[arm], env, log)
                turns.append({"tree": name, "arm": arm, "part": part, **figures})
                print(
                    f"round {round_no}: {part:6} {name:6} {arm:8} cpu {figures['cpu_s']:.2f} s"
                    f"  wall {figures['wall_s']:.2f} s  rss {figures['rss_mib']:.0f} MiB",
                    flush=True,
                )
    finally:
        problems = await scratch.cleanup()
        for problem in problems:
            print("cleanup:", problem, file=sys.stderr)
    return {
        "before": before,
        "after": infra.git("rev-parse", "--short", "HEAD")
        + (" + working tree" if infra.git("status", "--porcelain", "services") else ""),
        "rounds": rounds,
        "turns": turns,
        "probes": probes,
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _spread(values: list[float], digits: int) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def section(run: dict[str, Any]) -> str:
    turns = run["turns"]
    lines = [
        f"## Start-up, {run['at']}: {run['before']} against {run['after']}",
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/startup.py --before {run['before']} "
        f"--rounds {run['rounds']}`. Medians of {run['rounds']} starts (min-max), from the "
        "command to its started line. Speed probe before each round (µs, lower is faster): "
        + ", ".join(f"{p:.1f}" for p in run["probes"])
        + ".",
        "",
        "| process | code | bytecode | CPU s | wall s | RSS MiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    medians: dict[tuple[str, str, str], float] = {}
    for part in PARTS:
        for tree in ("before", "after"):
            for arm in ARMS:
                rows = [t for t in turns if (t["part"], t["tree"], t["arm"]) == (part, tree, arm)]
                medians[(part, tree, arm)] = statistics.median(r["cpu_s"] for r in rows)
                lines.append(
                    f"| {part} | {run[tree]} | {arm} | {_spread([r['cpu_s'] for r in rows], 2)} "
                    f"| {_spread([r['wall_s'] for r in rows], 2)} "
                    f"| {_spread([r['rss_mib'] for r in rows], 0)} |"
                )
    lines.append("")
    for part in PARTS:
        old = medians[(part, "before", "source")]
        new = medians[(part, "after", "bytecode")]
        lines.append(
            f"- {part}: {old:.2f} s of CPU to start before ({run['before']}, compiled from "
            f"source), {new:.2f} s now (bytecode): {new / old:.2f} times."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the file")
    args = parser.parse_args()
    run = asyncio.run(_compare(args.before, args.rounds))
    text = section(run)
    print(text)
    if not args.no_write:
        existing = RESULTS.read_text() if RESULTS.exists() else "# Start-up of a process\n\n"
        RESULTS.write_text(existing.rstrip("\n") + "\n\n" + text)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
