"""`make bench` reports the worker's and the relay's CPU per record twice: from process start,
and less what each process used before its log said it was ready (a cost per start)."""

import asyncio
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import infra
from pipeline import RELAY, WORKER, Orderstate, Throughput


def _throughput(start_up: dict[str, float]) -> Throughput:
    return Throughput(
        records=100_000,
        started_to_offsets_s=9.0,
        started_to_drained_s=10.0,
        first_commit_s=0.5,
        cpu={WORKER: 0.8, f"{WORKER} 2": 0.6, RELAY: 0.2, "kafka broker": 0.1},
        worker_hwm_kb=None,
        relay_hwm_kb=None,
        outbox_rows=90_000,
        relay_transactions=300,
        start_up_cpu_s=start_up,
    )


def test_start_up_cpu_is_taken_off_every_process_of_the_name() -> None:
    tp = _throughput({WORKER: 0.5, f"{WORKER} 2": 0.4, RELAY: 0.3})

    # Both workers: (0.8 + 0.6) cores for 10 s is 14 s, less 0.9 s, over 100,000 records.
    assert tp.cpu_us_per_record(WORKER) == pytest.approx(140.0)
    assert tp.cpu_us_per_record_after_start_up(WORKER) == pytest.approx(131.0)
    assert tp.cpu_us_per_record_after_start_up(RELAY) == pytest.approx(17.0)


def test_a_process_that_never_said_it_was_ready_gives_no_figure() -> None:
    tp = _throughput({WORKER: 0.5, RELAY: 0.3})

    assert tp.cpu_us_per_record_after_start_up(WORKER) is None
    assert tp.cpu_us_per_record_after_start_up(RELAY) == pytest.approx(17.0)


def test_figures_pickled_before_the_field_existed_still_load() -> None:
    old = _throughput({})
    del old.__dict__["start_up_cpu_s"]

    loaded = pickle.loads(pickle.dumps(old))  # noqa: S301 -- made here

    assert loaded.start_up_cpu_s == {}
    assert loaded.cpu_us_per_record_after_start_up(RELAY) is None


def _logging(log: Path, lines: list[str], *, after_s: float) -> subprocess.Popen[bytes]:
    """A process that burns some CPU, then logs ``lines`` and waits to be stopped."""
    script = (
        "import sys, time\n"
        "end = time.process_time() + 0.2\n"
        "while time.process_time() < end: pass\n"
        f"time.sleep({after_s})\n"
        f"for line in {lines!r}: print(line, flush=True)\n"
        "time.sleep(30)\n"
    )
    return infra.start([sys.executable, "-c", script], {}, log)


def test_the_watcher_reads_each_process_s_cpu_when_its_ready_line_appears(
    tmp_path: Path,
) -> None:
    run = Orderstate(ends=None, url="", topics=None, group="", logs=tmp_path)  # type: ignore[arg-type]
    # The relay's ready line comes after another one; the second worker logs only the
    # worker_started line that precedes partitions_assigned, so it never counts as ready.
    run.relay = _logging(
        tmp_path / "relay.log",
        ['{"event": "retention_cleanup"}', '{"event": "relay_started"}'],
        after_s=0.1,
    )
    run.worker = _logging(
        tmp_path / "worker.log", ['{"event": "partitions_assigned"}'], after_s=0.3
    )
    run.more_workers = [
        _logging(tmp_path / "worker2.log", ['{"event": "worker_started"}'], after_s=0.0)
    ]
    found: dict[str, float] = {}

    async def watch() -> None:
        task = asyncio.create_task(run.watch_start_up(found))
        await asyncio.sleep(1.5)
        assert not task.done()  # still waiting for worker2
        task.cancel()

    try:
        asyncio.run(watch())
    finally:
        for proc in (run.relay, run.worker, *run.more_workers):
            proc.kill()
            proc.wait()

    assert set(found) == {WORKER, RELAY}
    # Each had burnt 0.2 s of CPU before its line; the interpreter's start adds a little.
    assert all(0.15 <= seconds < 1.0 for seconds in found.values())
