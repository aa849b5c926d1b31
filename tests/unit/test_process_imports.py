"""A process loads the code of the parts it runs and no other: a worker or relay starts without
FastAPI, the routes and the console (and without each other), which is most of their start-up
time and memory (bench/results-startup.md)."""

import json
import subprocess
import sys

import pytest

_PART_MODULES = {
    "worker": "orderstate.worker.loop",
    "relay": "orderstate.relay.outbox_relay",
}
_NEVER = ("fastapi", "orderstate.api", "orderstate.console", "faust")


def _loaded_after(*modules: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("part", sorted(_PART_MODULES))
def test_a_worker_or_relay_process_loads_no_api_and_not_the_other_part(part: str) -> None:
    # What `orderstate worker` / `orderstate relay` import before run_parts starts the part.
    loaded = _loaded_after("orderstate.cli", "orderstate.launch", _PART_MODULES[part])
    other = next(m for p, m in _PART_MODULES.items() if p != part)
    unwanted = {
        m for m in loaded if m == other or any(m == n or m.startswith(n + ".") for n in _NEVER)
    }
    assert sorted(unwanted) == []


def test_the_api_part_still_finds_its_server() -> None:
    loaded = _loaded_after("orderstate.launch.api_server")
    assert {"fastapi", "orderstate.api.app", "orderstate.console.install"} <= loaded
