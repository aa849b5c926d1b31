"""bench/worker_cost.py runs decode and apply under the worker's collector settings. It keeps
its own copy of them (its turns import older commits too): the copy must not drift."""

import ast
from pathlib import Path

from orderstate.launch.parts import GC_THRESHOLDS

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "worker_cost.py"


def _bench_thresholds() -> tuple[int, ...]:
    for node in ast.parse(_BENCH.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_WORKER_GC_THRESHOLDS" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple)
            return value
    raise AssertionError(f"no _WORKER_GC_THRESHOLDS in {_BENCH}")


def test_worker_cost_runs_under_the_workers_collector_thresholds() -> None:
    assert _bench_thresholds() == GC_THRESHOLDS
