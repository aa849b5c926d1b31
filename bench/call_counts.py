"""How often the worker's hot paths run per input record, counted while the real code runs.

bench/hotpaths.py times each path per call. What a path costs a record is that times how
often it runs per record, and that depends on the batches: the stored view is loaded and
written once per order and batch, not once per event. ``counted`` wraps each path where the
worker's code calls it, for the length of a block, so ``pipeline.statement_profile`` can
count them while it applies the backlog as the worker does.
"""

import importlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["PATHS", "counted"]

# Counter key -> (module, name) the worker's code looks the function up by. Patching the
# module where a function is defined would miss callers that imported it by name.
PATHS: dict[str, tuple[str, str]] = {
    "decode_record": ("orderstate.worker.records", "decode_record"),
    "decide": ("orderstate.projector.apply", "decide"),
    "fact_rows": ("orderstate.projector.apply", "fact_rows"),
    "snapshot_text": ("orderstate.projector.outbox_rows", "snapshot_text"),
    "outbound_event_text": ("orderstate.projector.outbox_rows", "outbound_event_text"),
    "view_dump": ("orderstate.projector.writes", "stored_form"),
    "view_load": ("orderstate.projector.apply", "parse_view"),
}
# OrderView.evolve is a method: decide calls it on the view, so it is wrapped on the class.
_EVOLVE = "view_evolve"


def _counting(fn: Callable[..., Any], key: str, calls: Counter[str]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[key] += 1
        return fn(*args, **kwargs)

    return wrapper


@contextmanager
def counted(calls: Counter[str]) -> Iterator[Counter[str]]:
    """Count into ``calls`` each call of the paths in ``PATHS`` (and OrderView.evolve) made
    inside the block; every wrapper is removed when the block ends, however it ends."""
    from orderstate.domain import OrderView  # noqa: PLC0415 -- older commits' code lacks some

    saved: list[tuple[Any, str, Any]] = []
    try:
        for key, (module_name, name) in PATHS.items():
            module = importlib.import_module(module_name)
            original = getattr(module, name)
            saved.append((module, name, original))
            setattr(module, name, _counting(original, key, calls))
        evolve = OrderView.evolve
        OrderView.evolve = _counting(evolve, _EVOLVE, calls)  # type: ignore[method-assign]
        saved.append((OrderView, "evolve", None))
        yield calls
    finally:
        for owner, name, original in reversed(saved):
            if original is None:
                delattr(owner, name)  # the class's own attribute again: _Frozen.evolve
            else:
                setattr(owner, name, original)
