"""(e') faust-streaming's delivery alone: one agent takes batches as the order monitor does
(``noack_take``, 1,000 records or 200 ms) and only acknowledges them. It fetches pages of the
monitor's size (BENCH_FAUST_FETCH_BYTES: the default of
ORDERSTATE_MONITOR_MAX_PARTITION_FETCH_BYTES), so it is the monitor's ceiling, not that of
faust's smaller default page.

Run by bench/monitor.py as ``python bench/faust_take.py worker -l warn``, configured through
BENCH_FAUST_* variables; it writes its progress to BENCH_FAUST_STATS every half second.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

import faust

STATS = Path(os.environ["BENCH_FAUST_STATS"])

app = faust.App(
    os.environ["BENCH_FAUST_APP_ID"],
    broker=f"kafka://{os.environ['BENCH_FAUST_KAFKA']}",
    store="memory://",
    datadir=os.environ["BENCH_FAUST_DATADIR"],
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    stream_wait_empty=False,
    consumer_max_fetch_size=int(os.environ["BENCH_FAUST_FETCH_BYTES"]),
)
source = app.topic(
    *os.environ["BENCH_FAUST_TOPICS"].split(","),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)
_progress: dict[str, Any] = {"first": None, "count": 0}


@app.agent(source)
async def take(stream: Any) -> None:
    async for events in stream.noack_take(1000, within=0.2):
        if _progress["first"] is None:
            _progress["first"] = time.time()
        for event in events:
            await stream.ack(event)
        _progress["count"] += len(events)


@app.timer(interval=0.5)
async def report() -> None:
    data = {**_progress, "at": time.time()}
    tmp = STATS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(STATS)


if __name__ == "__main__":
    app.main()
