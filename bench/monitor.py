"""(e) The order monitor on what the orderstate run left on its outbound topics.

``orderstate monitor`` processes start (one, then two in one group) on the order events and
rejections of the (d) run: its backlog and latency runs, all published before the monitor
starts. A monitor's rate is the records of both topics over the time from its start to the
moment its /metrics counted them all and reported no lag on any partition (with two
processes a rebalance hands partitions over and some records are read twice, so the count
alone would end early); the processes are timed from their start, like (d).

(e') measures faust-streaming alone on the same topics: bench/faust_take.py, an agent that
takes batches the way the monitor does (``noack_take``) and only acknowledges them. It is the
most any faust agent can read here, whatever it does with the records.
"""

import asyncio
import json
import os
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

import infra
from orderstate.settings import Settings
from tests.support.kafka import TopicNames
from tests.support.processes import free_port

__all__ = [
    "FAUST_FETCH_BYTES",
    "MONITOR_FETCH_BYTES",
    "MonitorResult",
    "run_faust_ceiling",
    "run_monitor",
]

# The page per partition the monitor fetches by default, and faust-streaming's own default
# (consumer_max_fetch_size), which the monitor used before it set its own: (e) and (e') run with
# both, so one run shows what the larger page changed (docs/monitor.md, Throughput).
MONITOR_FETCH_BYTES: int = Settings.model_fields["monitor_max_partition_fetch_bytes"].default
FAUST_FETCH_BYTES = 1_048_576


@dataclass(frozen=True)
class MonitorResult:
    processes: int
    records: int
    seconds: float
    first_s: float | None
    alerts: dict[str, int]
    cpu: dict[str, float]
    hwm_kb: list[int | None]
    page_bytes: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def rate_after_first(self) -> float | None:
        if self.first_s is None:
            return None
        return self.records / (self.seconds - self.first_s)


@dataclass(frozen=True)
class _Scraped:
    records: int
    alerts: dict[str, int]
    lag: dict[str, int]


def _scrape(port: int) -> _Scraped:
    """Records the monitor has processed, the alerts it published by kind, its lag per
    partition it owns."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return _Scraped(0, {}, {})
    records, alerts, lag = 0, {"raised": 0, "cleared": 0}, {}
    for family in text_string_to_metric_families(text):
        if family.name == "orderstate_monitor_events":
            records += sum(int(s.value) for s in family.samples if s.name.endswith("_total"))
        elif family.name == "orderstate_monitor_alerts":
            for s in family.samples:
                if s.name.endswith("_total"):
                    alerts[s.labels["kind"]] += int(s.value)
        elif family.name == "orderstate_monitor_lag":
            lag.update({s.labels["partition"]: int(s.value) for s in family.samples})
    return _Scraped(records, alerts, lag)


async def run_monitor(
    ends: infra.Endpoints,
    scratch: infra.Scratch,
    topics: TopicNames,
    url: str,
    logs: Path,
    *,
    processes: int,
    page_bytes: int = MONITOR_FETCH_BYTES,
    timeout_s: float = 600,
) -> MonitorResult:
    """``processes`` monitor processes in one new group on the order events and rejections,
    fetching ``page_bytes`` per partition."""
    ends_now = await infra.end_offsets(ends.kafka, [topics.order_events, topics.rejected])
    records = sum(ends_now.values())
    partitions = sum(1 for tp in ends_now if tp.topic == topics.order_events)
    tag = f"{processes}" if page_bytes == MONITOR_FETCH_BYTES else f"{processes}-page{page_bytes}"
    alerts_topic = scratch.name(f"monitor{tag}.orderstate.order-alerts.v1")
    await scratch.create_topics([alerts_topic])
    env = infra.orderstate_env(url, ends.kafka, topics, scratch.group(f"unused{tag}"))
    env.update(
        {
            "ORDERSTATE_TOPIC_ALERTS": alerts_topic,
            "ORDERSTATE_MONITOR_GROUP": scratch.group(f"monitor{tag}"),
            "ORDERSTATE_MONITOR_MAX_PARTITION_FETCH_BYTES": str(page_bytes),
        }
    )
    ports = [free_port() for _ in range(processes)]
    cpu = infra.CpuMeter(
        {
            "postgres (all backends)": (ends.postmaster_pid, True),
            "kafka broker": (ends.kafka_pid, False),
        }
    )
    cpu.start()
    started = time.monotonic()
    running = [
        infra.start(
            [
                str(infra.PYTHON),
                "-m",
                "orderstate",
                "monitor",
                "--ops-port",
                str(port),
                "--ops-host",
                "127.0.0.1",
            ],
            env,
            logs / f"monitor{tag}-{n}.log",
        )
        for n, port in enumerate(ports)
    ]
    for n, process in enumerate(running):
        cpu.add(f"orderstate monitor {n + 1}", process.pid)
    first: float | None = None
    alerts: dict[str, int] = {}
    try:
        while True:
            for process in running:
                if process.poll() is not None:
                    raise RuntimeError(f"a monitor exited with {process.returncode}")
            scraped = [await asyncio.to_thread(_scrape, port) for port in ports]
            done = sum(s.records for s in scraped)
            alerts = {k: sum(s.alerts.get(k, 0) for s in scraped) for k in ("raised", "cleared")}
            lag = {p: n for s in scraped for p, n in s.lag.items()}
            now = time.monotonic() - started
            if done and first is None:
                first = now
            if done >= records and len(lag) == partitions and not any(lag.values()):
                break
            if now > timeout_s:
                raise TimeoutError(f"the monitor processed {done} of {records} in {timeout_s} s")
            await asyncio.sleep(0.1)
        seconds = time.monotonic() - started
        cpu.stop()
        hwm = [infra.status_kb(p.pid, "VmHWM") for p in running]
    finally:
        for process in running:
            infra.stop(process)
    return MonitorResult(
        processes=processes,
        records=records,
        seconds=seconds,
        first_s=first,
        alerts=alerts,
        cpu=cpu.result,
        hwm_kb=hwm,
        page_bytes=page_bytes,
    )


@dataclass(frozen=True)
class CeilingResult:
    records: int
    seconds: float
    first_s: float
    page_bytes: int

    @property
    def rate(self) -> float:
        return self.records / (self.seconds - self.first_s)


async def run_faust_ceiling(
    ends: infra.Endpoints,
    scratch: infra.Scratch,
    topics: TopicNames,
    logs: Path,
    *,
    page_bytes: int = MONITOR_FETCH_BYTES,
    timeout_s: float = 600,
) -> CeilingResult:
    """bench/faust_take.py on the same topics, fetching ``page_bytes`` per partition: faust's
    delivery alone."""
    ends_now = await infra.end_offsets(ends.kafka, [topics.order_events, topics.rejected])
    records = sum(ends_now.values())
    tag = f"faust-take-page{page_bytes}"
    stats = logs / f"{tag}-stats.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORDERSTATE_", "BENCH_"))},
        "BENCH_FAUST_APP_ID": scratch.group(tag),
        "BENCH_FAUST_KAFKA": ends.kafka,
        "BENCH_FAUST_TOPICS": f"{topics.order_events},{topics.rejected}",
        "BENCH_FAUST_STATS": str(stats),
        "BENCH_FAUST_DATADIR": str(logs / f"{tag}-data"),
        "BENCH_FAUST_FETCH_BYTES": str(page_bytes),
    }
    started = time.time()
    process = infra.start(
        [str(infra.PYTHON), str(Path(__file__).with_name("faust_take.py")), "worker", "-l", "warn"],
        env,
        logs / f"{tag}.log",
    )
    progress: dict[str, Any] = {}
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"faust_take.py exited with {process.returncode}")
            if stats.exists():
                progress = json.loads(stats.read_text())
            if progress.get("count", 0) >= records:
                break
            if time.time() - started > timeout_s:
                raise TimeoutError(f"faust_take.py read {progress.get('count')} of {records}")
            await asyncio.sleep(0.25)
    finally:
        infra.stop(process)
    return CeilingResult(
        records=progress["count"],
        seconds=progress["at"] - started,
        first_s=progress["first"] - started,
        page_bytes=page_bytes,
    )
