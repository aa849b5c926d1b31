"""``orderstate <command>`` with an observer the product does not have: a record of every
garbage-collector pause, written when it exits.

    python bench/observed.py --gc worker.gc.json worker --ops-port 0

``--stages worker.stages.json`` records how old each record is at each step of the worker
(bench/stages.py). ``--gc-tune 50000,20,100`` additionally freezes the objects alive after start-up
(``gc.freeze()``) and sets these collector thresholds: the GC experiment of bench/run.py.
Nothing else differs from ``.venv/bin/orderstate``, which calls the same ``main()``. Where the
CPU goes is sampled from outside the process (bench/stacks.py, py-spy).
"""

import argparse
import atexit
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_started = [0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses[info["generation"]].append(time.perf_counter() - _started[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gc", type=Path)
    parser.add_argument("--gc-tune")
    parser.add_argument("--stages", type=Path)
    args, rest = parser.parse_known_args()

    from orderstate.cli import main as orderstate_main

    if args.gc_tune:
        # Import what the command imports lazily, so it is frozen too.
        import orderstate.launch.parts  # noqa: F401 -- with the worker, relay and api

        gc.collect()
        gc.freeze()
        gc.set_threshold(*(int(n) for n in args.gc_tune.split(",")))
    if args.stages:
        import stages  # bench/, the directory of this script

        stages.install(args.stages)
    if args.gc:
        gc.callbacks.append(_on_gc)
        began = time.perf_counter()
        atexit.register(_write_gc, args.gc, began)
    sys.argv = ["orderstate", *rest]
    orderstate_main()


def _write_gc(path: Path, began: float) -> None:
    path.write_text(
        json.dumps(
            {
                "seconds": time.perf_counter() - began,
                "generations": {
                    str(gen): {"collections": len(p), "total_s": sum(p), "max_s": max(p, default=0)}
                    for gen, p in _pauses.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
