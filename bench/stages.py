"""Where an event's latency goes inside the worker: the age of each record (now minus its
Kafka timestamp, which the producer sets when it is handed a record) at each step.

Installed into a worker process by ``bench/observed.py --stages FILE``; it wraps three
methods of the worker and writes the ages to FILE when the process exits. Nothing in
services/ knows about it.

- ``fetched``: the fetch task has the record from ``getmany`` (producer batching, the broker,
  the fetch, and the worker's event loop being busy with something else);
- ``released``: the pair merge released it (it waited for the twin partition's clock or a
  merge marker);
- ``applying``: its batch began to apply (it waited for the batch before it, and for its own
  batch to close);
- ``committed``: its batch's PostgreSQL transaction committed.
"""

import atexit
import json
import time
from pathlib import Path
from typing import Any

from orderstate.worker import log_writer, loop, sequencer

STEPS = ("fetched", "released", "applying", "committed")


def install(path: Path) -> None:
    ages: dict[str, list[float]] = {step: [] for step in STEPS}
    ages["apply_ms"] = []
    ages["batch_size"] = []
    # One entry per merge marker (or clock tick) the worker wrote.
    ages["markers"] = []
    # (topic, partition, offset) -> Kafka timestamp of the records on their way through.
    stamps: dict[tuple[str, int, int], int] = {}

    def now_ms() -> float:
        return time.time() * 1000

    def keep(step: str, inputs: list[Any], at: float, *, forget: bool = False) -> None:
        for item in inputs:
            p = item.position
            if p is None:
                continue
            key = (p.topic, p.partition, p.offset)
            stamp = stamps.pop(key, None) if forget else stamps.get(key)
            if stamp is not None:
                ages[step].append(at - stamp)

    push = sequencer.Sequencer.push

    def pushed(self: Any, fetched: dict[Any, list[Any]]) -> None:
        at = now_ms()
        for tp, records in fetched.items():
            for record in records:
                # Merge markers and clock ticks carry an empty value: not events.
                if getattr(record, "value", None) and getattr(record, "timestamp", None):
                    stamps[(tp.topic, tp.partition, record.offset)] = record.timestamp
                    ages["fetched"].append(at - record.timestamp)
        push(self, fetched)

    release = sequencer.Sequencer.release

    def released(self: Any, limit: int) -> list[Any]:
        inputs: list[Any] = release(self, limit)
        keep("released", inputs, now_ms())
        return inputs

    apply = loop.Worker._apply

    async def applied(self: Any, inputs: list[Any]) -> Any:
        began = now_ms()
        keep("applying", inputs, began)
        result = await apply(self, inputs)
        ended = now_ms()
        keep("committed", inputs, ended, forget=True)
        ages["apply_ms"].append(ended - began)
        ages["batch_size"].append(len(inputs))
        return result

    mark = log_writer.LogWriter.mark

    def marked(self: Any, tp: Any, time_ms: int, *, tick: bool = False) -> None:
        ages["markers"].append(now_ms())
        mark(self, tp, time_ms, tick=tick)

    sequencer.Sequencer.push = pushed  # type: ignore[method-assign]
    sequencer.Sequencer.release = released  # type: ignore[method-assign]
    loop.Worker._apply = applied  # type: ignore[method-assign]
    log_writer.LogWriter.mark = marked  # type: ignore[method-assign]
    atexit.register(lambda: path.write_text(json.dumps(ages)))
