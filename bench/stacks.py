"""Where a process spends its CPU, from py-spy's samples of its Python stacks.

    sampler = stacks.sample(pid, seconds=30, out=Path("worker.stacks"))
    ...
    stacks.finish(sampler)
    summary = stacks.summarise(Path("worker.stacks"), rate=stacks.RATE)

py-spy reads the process from outside (ptrace), so it does not slow the functions it
measures. cProfile, which ``make bench`` used before, adds a hook to every Python call and
none to a call into C: under it, pydantic's ``model_copy`` looked like 28 % of ``decide``,
and doing it at half the cost moved ``decide`` by 2 % (bench/results-worker-cost.md).

Only stacks on a CPU are sampled (py-spy leaves out idle threads: the event loop waiting in
epoll), so a function's share is its share of the process's CPU time. Work in C (pydantic's
validators and serialisers, asyncpg's encoders) counts to the Python function that called
it, since py-spy runs without ``--native``.
"""

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import infra

__all__ = ["RATE", "StackSummary", "finish", "sample", "summarise"]

RATE = 200  # samples per second: 6,000 in a 30 s window, and a pause of the process well under 1 %
PY_SPY = infra.PYTHON.parent / "py-spy"

# "function (path:line)": py-spy's frame in the raw (collapsed stack) format.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def sample(pid: int, *, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds``; ``finish`` waits for the file."""
    if not PY_SPY.exists():
        raise SystemExit(f"bench: {PY_SPY} is missing: `make install` installs the bench group")
    return subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish(sampler: subprocess.Popen[bytes], *, within_s: float = 60) -> None:
    """Wait for the sampler; a sampler that failed (no ptrace permission, the process gone)
    ends the phase with py-spy's own words rather than leaving an empty profile."""
    output, _ = sampler.communicate(timeout=within_s)
    if sampler.returncode != 0:
        raise RuntimeError(
            f"py-spy exited with {sampler.returncode}: {output.decode(errors='replace')[-2000:]}"
        )


@dataclass(frozen=True)
class StackSummary:
    samples: int
    rate: int
    # (area, samples), most first
    by_area: list[tuple[str, int]]
    # (function, samples on top of the stack), most first
    own: list[tuple[str, int]]
    # (function, samples with it anywhere on the stack), for the steps asked for
    inclusive: list[tuple[str, int]]

    @property
    def cpu_s(self) -> float:
        return self.samples / self.rate


def function_of(frame: str) -> str:
    """``BaseModel.model_copy (pydantic/main.py:410)`` -> ``pydantic/main.py:BaseModel.model_copy``:
    one name per function, whatever line of it was running."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{_short(match['path'])}:{match['function']}"


def _short(path: str) -> str:
    for marker in ("site-packages/", "services/", "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise(
    path: Path,
    *,
    rate: int = RATE,
    areas: tuple[tuple[str, str], ...],
    steps: tuple[str, ...],
    top: int = 25,
) -> StackSummary:
    """Samples by area (of the function on top of the stack: the first needle of ``areas``
    found in its name), the functions most often on top, and for each function named in
    ``steps`` (its name without the class, e.g. ``decide`` or ``_Batch.run``) the samples
    it is anywhere on the stack in."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        functions = [function_of(frame) for frame in stack.split(";")]
        total += n
        own[functions[-1]] += n
        for name in set(functions):
            if name.rpartition(":")[2] in steps:
                inclusive[name] += n
    if total == 0:
        raise RuntimeError(f"{path}: no samples (was the process on a CPU at all?)")
    by_area: Counter[str] = Counter()
    for name, n in own.items():
        by_area[next((area for needle, area in areas if needle in name), "other")] += n
    return StackSummary(
        samples=total,
        rate=rate,
        by_area=by_area.most_common(),
        own=own.most_common(top),
        inclusive=inclusive.most_common(),
    )
