"""(d) orderstate itself: the real ``orderstate worker`` and ``orderstate relay`` processes,
their sustained rate on a pre-loaded backlog, their latency at a paced rate, and where the
worker's time goes."""

import asyncio
import json
import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import call_counts
import infra
import stacks
from figures import percentile
from orderstate.domain import PolicyBook
from orderstate.events.decode import DecodeLimits
from orderstate.events.topics import TopicRole
from orderstate.projector.apply import apply_batch
from orderstate.projector.inputs import Input, Position
from orderstate.projector.queries import QUERIES
from orderstate.simulation.generator import SimRecord
from orderstate.worker.records import read_record
from tests.support.kafka import TopicNames

try:
    from orderstate.projector.write_statement import is_write_statement
except ImportError:  # the code of a commit before it (bench/worker_cost.py --before)

    def is_write_statement(sql: str) -> bool:
        return False


# --- the worker and relay as processes -------------------------------------------------------

OBSERVED = Path(__file__).with_name("observed.py")


@dataclass
class Throughput:
    records: int
    started_to_offsets_s: float
    started_to_drained_s: float
    first_commit_s: float | None
    cpu: dict[str, float]
    worker_hwm_kb: int | None
    relay_hwm_kb: int | None
    outbox_rows: int
    relay_transactions: int
    # PostgreSQL's WAL written from the start to the drained outbox (the cluster's, and the
    # bench writes nothing else meanwhile).
    wal_bytes: int | None = None
    # CPU seconds each process (named as in ``cpu``) had used when its log said it was ready
    # for work: imports, connecting, joining the group. A cost per process start, paid once
    # however long it runs.
    start_up_cpu_s: dict[str, float] = field(default_factory=dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Figures pickled before the start-up was measured (bench/run.py --render) have none.
        self.__dict__.update({"start_up_cpu_s": {}, **state})

    @property
    def rate(self) -> float:
        return self.records / self.started_to_drained_s

    def cpu_us_per_record(self, name: str) -> float:
        """CPU of the processes whose name starts with ``name``, in µs per input record."""
        cores = sum(v for k, v in self.cpu.items() if k.startswith(name))
        return cores * self.started_to_drained_s / self.records * 1e6

    def cpu_us_per_record_after_start_up(self, name: str) -> float | None:
        """``cpu_us_per_record`` less what the processes used before they were ready; None
        when one of them never said so."""
        names = [k for k in self.cpu if k.startswith(name)]
        if not names or any(k not in self.start_up_cpu_s for k in names):
            return None
        used = sum(self.cpu[k] for k in names) * self.started_to_drained_s
        return (used - sum(self.start_up_cpu_s[k] for k in names)) / self.records * 1e6

    @property
    def rate_after_first_commit(self) -> float | None:
        if self.first_commit_s is None:
            return None
        return self.records / (self.started_to_drained_s - self.first_commit_s)


@dataclass
class Orderstate:
    """A worker and a relay process on bench-owned topics, database and consumer group."""

    ends: infra.Endpoints
    url: str
    topics: TopicNames
    group: str
    logs: Path
    profile: bool = False
    # None: no GC observation; "": observe pauses only; "a,b,c": also freeze and set thresholds.
    gc_tune: str | None = None
    # Record each event's age at each step of the worker (bench/stages.py).
    stages: bool = False
    # Worker processes in the consumer group (the relay is always one).
    workers: int = 1
    # The services/ tree the relay runs from (an older commit's: bench/relay_follow.py);
    # None: this checkout's.
    relay_services: Path | None = None
    worker: Popen[bytes] | None = None
    more_workers: list[Popen[bytes]] = field(default_factory=list)
    relay: Popen[bytes] | None = None
    started_at: float = 0.0
    settings: dict[str, str] = field(default_factory=dict)

    def _start(self, command: str, log: str | None = None) -> Popen[bytes]:
        env = infra.orderstate_env(self.url, self.ends.kafka, self.topics, self.group)
        env.update(self.settings)
        if command == "relay" and self.relay_services is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.relay_services), env.get("PYTHONPATH")) if p
            )
        observers: list[str] = []
        # Profiled from outside (bench/stacks.py); observed.py records the collector's pauses.
        if self.profile or self.gc_tune is not None:
            observers += ["--gc", str(self.logs / f"{command}.gc.json")]
        if self.gc_tune:
            observers += ["--gc-tune", self.gc_tune]
        if self.stages and command == "worker":
            observers += ["--stages", str(self.logs / f"{log or command}.stages.json")]
        # Plain `python -m orderstate`, unless observed (bench/observed.py calls the same main).
        entry = [str(OBSERVED), *observers] if observers else ["-m", "orderstate"]
        return infra.start(
            [str(infra.PYTHON), *entry, command, "--ops-port", "0"],
            env,
            self.logs / f"{log or command}.log",
        )

    def gc_stats(self, command: str) -> dict[str, Any] | None:
        path = self.logs / f"{command}.gc.json"
        return json.loads(path.read_text()) if path.exists() else None

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.worker = self._start("worker")
        self.more_workers = [
            self._start("worker", f"worker{n}") for n in range(2, self.workers + 1)
        ]
        self.relay = self._start("relay")

    async def restart_worker(
        self, settings: dict[str, str], inbound: TopicNames | None = None
    ) -> None:
        """Stop the worker and start it again with these ORDERSTATE_* settings (and, if given,
        the inbound topics of ``inbound``; the outbound topics stay, the relay keeps running);
        return when it owns its partitions."""
        if self.worker is not None:
            infra.stop(self.worker)
        self.settings = settings
        if inbound is not None:
            self.topics = replace(self.topics, orders=inbound.orders, shipments=inbound.shipments)
        self.worker = self._start("worker")
        await infra.wait_group_stable(self.ends.kafka, self.group)

    async def watch_start_up(self, into: dict[str, float]) -> None:
        """Until cancelled: each process's CPU seconds at the moment its log says it is ready
        for work, by its name in the CPU meter."""
        waiting = {name: proc for name, proc in self._processes() if proc is not None}
        read: dict[str, int] = dict.fromkeys(waiting, 0)
        while waiting:
            for name, proc in list(waiting.items()):
                log = self.logs / f"{name}.log"
                with log.open("rb") as f:
                    f.seek(read[name])
                    text = f.read()
                # Only whole lines: one still being written is read again next time.
                whole = text[: text.rfind(b"\n") + 1]
                read[name] += len(whole)
                if _READY[name.rstrip("0123456789")] in whole:
                    into[_meter_name(name)] = infra.cpu_seconds(proc.pid)
                    del waiting[name]
            await asyncio.sleep(0.01)

    def _processes(self) -> list[tuple[str, Popen[bytes] | None]]:
        more = [(f"worker{n}", p) for n, p in enumerate(self.more_workers, start=2)]
        return [("worker", self.worker), *more, ("relay", self.relay)]

    def stop(self) -> dict[str, int]:
        codes = {}
        for name, proc in self._processes():
            if proc is not None:
                # Each writes its GC record on the way out: give it time.
                codes[name] = infra.stop(proc, within_s=60)
        return codes

    def alive(self) -> None:
        for name, proc in self._processes():
            if proc is not None and proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text().splitlines()[-20:]
                raise RuntimeError(
                    f"orderstate {name} exited with {proc.returncode}:\n" + "\n".join(tail)
                )

    async def wait_caught_up(
        self, conn: asyncpg.Connection, ends: dict[TopicPartition, int], *, timeout_s: float
    ) -> tuple[float, float, float | None]:
        """Seconds from start until the stored offsets reach ``ends``, until the outbox is
        also drained, and until the first batch was committed."""
        target = sum(ends.values())
        deadline = time.monotonic() + timeout_s
        first: float | None = None
        at_offsets: float | None = None
        while True:
            self.alive()
            rows = await conn.fetch(
                "SELECT topic, partition, next_offset FROM consumer_offsets "
                "WHERE consumer_group = $1",
                self.group,
            )
            stored = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            now = time.monotonic() - self.started_at
            if first is None and stored:
                first = now
            done = sum(min(stored.get(tp, 0), end) for tp, end in ends.items())
            if at_offsets is None and done >= target:
                at_offsets = now
            if at_offsets is not None:
                unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                if unsent == 0:
                    return at_offsets, time.monotonic() - self.started_at, first
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"orderstate applied {done} of {target} records in {timeout_s:g} s"
                )
            await asyncio.sleep(0.05)


WORKER, RELAY = "orderstate worker", "orderstate relay"
# The log line after which a process does the work the backlog measures: a worker once it owns
# partitions, the relay once its producer is up.
_READY = {"worker": b'"event": "partitions_assigned"', "relay": b'"event": "relay_started"'}


def _meter_name(log_name: str) -> str:
    """The CPU meter's name of the process that logs to ``<log_name>.log``."""
    if log_name == "relay":
        return RELAY
    number = log_name.removeprefix("worker")
    return f"{WORKER} {number}" if number else WORKER


def _meter(ends: infra.Endpoints, run: "Orderstate | None") -> infra.CpuMeter:
    pids = {
        "postgres (all backends)": (ends.postmaster_pid, True),
        "kafka broker": (ends.kafka_pid, False),
        "bench (this process)": (os.getpid(), False),
    }
    if run is not None and run.worker is not None and run.relay is not None:
        pids[WORKER] = (run.worker.pid, False)
        pids[RELAY] = (run.relay.pid, False)
    return infra.CpuMeter(pids)


async def throughput(
    ends: infra.Endpoints, run: Orderstate, offsets: dict[TopicPartition, int], timeout_s: float
) -> Throughput:
    conn = await asyncpg.connect(run.url)
    try:
        wal_start = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
        cpu = _meter(ends, None)
        cpu.start()
        run.start()
        assert run.worker is not None and run.relay is not None  # noqa: S101
        cpu.add(WORKER, run.worker.pid)
        for n, more in enumerate(run.more_workers, start=2):
            cpu.add(f"{WORKER} {n}", more.pid)
        cpu.add(RELAY, run.relay.pid)
        start_up: dict[str, float] = {}
        watcher = asyncio.create_task(run.watch_start_up(start_up))
        try:
            at_offsets, drained, first = await run.wait_caught_up(
                conn, offsets, timeout_s=timeout_s
            )
        finally:
            watcher.cancel()
        cpu.stop()
        wal = await conn.fetchval(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", wal_start
        )
        outbox_rows = await conn.fetchval("SELECT count(*) FROM outbox")
        # A relay round is one transaction, and it marks all of its rows, whatever their lane,
        # with one acknowledgement time.
        relay_transactions = await conn.fetchval(
            "SELECT count(DISTINCT sent_at) FROM outbox WHERE sent_at IS NOT NULL"
        )
    finally:
        await conn.close()
    return Throughput(
        records=sum(offsets.values()),
        started_to_offsets_s=at_offsets,
        started_to_drained_s=drained,
        first_commit_s=first,
        cpu=cpu.result,
        worker_hwm_kb=infra.status_kb(run.worker.pid, "VmHWM"),
        relay_hwm_kb=infra.status_kb(run.relay.pid, "VmHWM"),
        outbox_rows=outbox_rows,
        relay_transactions=relay_transactions,
        wal_bytes=int(wal),
        start_up_cpu_s=start_up,
    )


# A batch of at least this many events: the worker had a backlog to take it from.
_FULL_BATCH = 400


def batch_log(
    log: Path, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Sum the worker's per-batch log lines (optionally those logged in [since, until)):
    outcomes, batch sizes, time in apply_batch and in decode."""
    counts: Counter[str] = Counter()
    sizes: list[int] = []
    durations: list[float] = []
    # The loop's time from one batch's log line to the next one's, less the next one's apply:
    # what the worker does between batches (its log lines, metrics, the Kafka commit while that
    # was awaited, waiting for the next batch). Counted for full batches only, where the next
    # batch is usually ready, so the figure is not idle time.
    between: list[float] = []
    previous: tuple[datetime, int] | None = None
    decode_ms = 0.0
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("event") != "batch":
            continue
        at = datetime.fromisoformat(entry["timestamp"])
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        if previous is not None and min(previous[1], entry["count"]) >= _FULL_BATCH:
            gap_ms = (at - previous[0]).total_seconds() * 1000
            between.append(gap_ms - entry["duration_ms"])
        previous = (at, entry["count"])
        sizes.append(entry["count"])
        durations.append(entry["duration_ms"])
        decode_ms += entry["decode_ms"]
        for key in ("applied", "late", "rejected", "malformed", "duplicates", "parked", "unparked"):
            counts[key] += entry[key]
    return {
        "batches": len(sizes),
        "events": sum(sizes),
        "mean_size": statistics.fmean(sizes) if sizes else 0.0,
        "apply_s": sum(durations) / 1000,
        "apply_ms_p50": percentile(durations, 50),
        "apply_ms_p99": percentile(durations, 99),
        "decode_s": decode_ms / 1000,
        "between_full_ms_p50": percentile(between, 50) if between else None,
        "between_full_ms_mean": statistics.fmean(between) if between else None,
        "outcomes": dict(counts),
    }


# --- latency at a paced rate -----------------------------------------------------------------


_MALFORMED_PREFIX = "sim-bad-"
_CAUSE = b'"cause_event_id":"'


@dataclass
class Latency:
    rate: float
    seconds: float
    sent: int
    achieved_rate: float
    committed_ms: list[float]
    decided_ms: list[float]
    # Events the worker did not park: their outbound event depends on nothing sent later.
    published_ms: list[float]
    poll_gap_ms: float
    missing: int
    began: datetime
    ended: datetime
    cpu: dict[str, float]
    settings: dict[str, str]
    # (seconds since the first send, send -> committed ms), in send order.
    series: list[tuple[float, float]] = field(default_factory=list)
    # Outbox rows of the run: batch start (created_at) to Kafka's acknowledgement (sent_at).
    relay_ms: list[float] = field(default_factory=list)
    relay_transactions: int = 0
    # Events first committed as parked (a shipment before its order): their outbound event
    # can only exist once the order does. From their own send, which measures the input's
    # gap; and from their order's order.created send, the system's part.
    published_parked_ms: list[float] = field(default_factory=list)
    published_parked_from_order_ms: list[float] = field(default_factory=list)

    @property
    def published_ready_ms(self) -> list[float]:
        """Every published event from when its outbound event could first exist: its own
        send, or for a parked event its order's send if that came later."""
        return self.published_ms + self.published_parked_from_order_ms

    def windows(self, seconds: float = 5.0) -> list[tuple[float, float, float]]:
        """(window start s, p50 ms, p99 ms) of the committed latency per window of sends."""
        buckets: dict[int, list[float]] = defaultdict(list)
        for at, ms in self.series:
            buckets[int(at // seconds)].append(ms)
        return [
            (n * seconds, percentile(v, 50), percentile(v, 99)) for n, v in sorted(buckets.items())
        ]


class _Observer:
    """Sees, from outside, when each event's effect is committed and published."""

    def __init__(self, url: str, kafka: str, topic: str) -> None:
        self.url, self.kafka, self.topic = url, kafka, topic
        self.committed: dict[str, tuple[float, float]] = {}
        self.published: dict[str, float] = {}
        # Events whose first committed outcome was "parked".
        self.parked: set[str] = set()
        self.gaps: list[float] = []
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.conn = await asyncpg.connect(self.url)
        ends = await infra.end_offsets(self.kafka, [self.topic])
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka, enable_auto_commit=False)
        await self.consumer.start()
        self.consumer.assign(list(ends))
        for tp, offset in ends.items():
            self.consumer.seek(tp, offset)
        self.tasks = [asyncio.create_task(self._commits()), asyncio.create_task(self._published())]

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.consumer.stop()
        await self.conn.close()

    async def _commits(self) -> None:
        """Rows of processed_events become visible when the worker commits; one worker's
        batches commit in order of their processed_at, so polling from the last one seen
        finds every new row."""
        since = datetime.now(UTC) - timedelta(seconds=1)
        previous = time.monotonic()
        while not self.stopping.is_set():
            began = time.monotonic()
            self.gaps.append(began - previous)
            previous = began
            rows = await self.conn.fetch(
                "SELECT event_id, processed_at, outcome FROM processed_events "
                "WHERE processed_at >= $1",
                since,
            )
            seen = time.time()
            for r in rows:
                if r["event_id"] not in self.committed:
                    self.committed[r["event_id"]] = (seen, r["processed_at"].timestamp())
                    if r["outcome"] == "parked":
                        self.parked.add(r["event_id"])
            if rows:
                since = max(r["processed_at"] for r in rows)
            await asyncio.sleep(0.005)

    async def _published(self) -> None:
        while not self.stopping.is_set():
            got = await self.consumer.getmany(timeout_ms=100)
            seen = time.time()
            for batch in got.values():
                for r in batch:
                    # Cheaper than parsing the whole event: this process shares the CPUs.
                    start = r.value.find(_CAUSE)
                    if start >= 0:
                        start += len(_CAUSE)
                        cause = r.value[start : r.value.index(b'"', start)].decode()
                        self.published.setdefault(cause, seen)


def _event_id(record: SimRecord) -> str:
    return dict(record.headers).get("ce_id", b"").decode()


def _order_created_sends(plan: list[SimRecord], sent: dict[str, float]) -> dict[bytes, float]:
    """Each order's first order.created send time, by record key."""
    first: dict[bytes, float] = {}
    for record in plan:
        if dict(record.headers).get("ce_type") == b"order.created":
            at = sent.get(_event_id(record))
            if at is not None:
                first[record.key] = min(at, first.get(record.key, at))
    return first


async def _paced(
    kafka: str, topics: TopicNames, plan: list[SimRecord], rate: float
) -> tuple[dict[str, float], float]:
    """Publish ``plan`` at ``rate`` per second; return each id's first send time (wall clock,
    when handed to the producer) and the seconds it took."""
    topic_for = {
        TopicRole.ORDERS_IN.value: topics.orders,
        TopicRole.SHIPMENTS_IN.value: topics.shipments,
    }
    sent: dict[str, float] = {}
    # linger 5 ms, as a shop's producer would batch: fewer requests for this shared machine's
    # broker; up to 5 ms of it is inside every latency measured.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for index, record in enumerate(plan):
            delay = started + index / rate - time.monotonic()
            if delay > 0.002:
                await asyncio.sleep(delay)
            event_id = _event_id(record)
            handed = time.time()
            futures.append(
                await producer.send(
                    topic_for[record.role.value],
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                )
            )
            sent.setdefault(event_id, handed)
        await asyncio.gather(*futures)
        return sent, time.monotonic() - started
    finally:
        await producer.stop()


async def latency(
    ends: infra.Endpoints,
    run: Orderstate,
    records: list[SimRecord],
    *,
    rate: float,
    seconds: float,
) -> Latency:
    """Publish ``records`` at ``rate`` per second for ``seconds`` into the running pipeline.

    Each record's send time is the wall clock when it was handed to the producer. Its commit
    time is when a poll (every 5 ms) of processed_events first sees its row: rows are visible
    only after the worker's commit, so this is an upper bound, late by at most one poll gap.
    processed_at (the batch's ``now``, taken before the transaction) gives a lower bound.
    Redeliveries of an earlier id and malformed records write no processed_events row and are
    not counted. "Published" is when the first outbound event caused by it reaches a consumer
    of the order-events topic; events first committed as parked are counted apart
    (``published_parked_ms``), because theirs waits for a later event, their order's."""
    plan = records[: int(rate * seconds)]
    observer = _Observer(run.url, ends.kafka, run.topics.order_events)
    await observer.start()
    cpu = _meter(ends, run)
    began = datetime.now(UTC)
    cpu.start()
    try:
        sent, send_s = await _paced(ends.kafka, run.topics, plan, rate)
        # Give the last batches time to commit and be published.
        countable = [i for i in sent if not i.startswith(_MALFORMED_PREFIX)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run.alive()
            done = all(i in observer.committed for i in countable)
            if done and not await _still_moving(run.url):
                break
            await asyncio.sleep(0.2)
        cpu.stop()
        ended = datetime.now(UTC)
        await asyncio.sleep(1.0)  # the relay's last acknowledgements reach our consumer
        relay_ms, relay_transactions = await _relay_during(run.url, began, ended)
    finally:
        await observer.stop()
    committed, published, parked = observer.committed, observer.published, observer.parked
    first = min(sent.values())
    order_sent = _order_created_sends(plan, sent)
    key_of = {_event_id(r): r.key for r in plan}
    return Latency(
        rate=rate,
        seconds=seconds,
        sent=len(plan),
        achieved_rate=len(plan) / send_s,
        committed_ms=[(committed[i][0] - t) * 1000 for i, t in sent.items() if i in committed],
        decided_ms=[(committed[i][1] - t) * 1000 for i, t in sent.items() if i in committed],
        published_ms=[
            (published[i] - t) * 1000 for i, t in sent.items() if i in published and i not in parked
        ],
        published_parked_ms=[
            (published[i] - t) * 1000 for i, t in sent.items() if i in published and i in parked
        ],
        published_parked_from_order_ms=[
            (published[i] - max(t, order_sent[key_of[i]])) * 1000
            for i, t in sent.items()
            if i in published and i in parked and key_of.get(i) in order_sent
        ],
        poll_gap_ms=percentile(observer.gaps[1:], 99) * 1000,
        missing=len([i for i in countable if i not in committed]),
        began=began,
        ended=ended,
        cpu=cpu.result,
        settings=dict(run.settings),
        series=[
            (t - first, (committed[i][0] - t) * 1000) for i, t in sent.items() if i in committed
        ],
        relay_ms=relay_ms,
        relay_transactions=relay_transactions,
    )


async def _relay_during(url: str, began: datetime, ended: datetime) -> tuple[list[float], int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM sent_at - created_at) * 1000 AS ms, sent_at "
            "FROM outbox WHERE created_at >= $1 AND created_at < $2 AND sent_at IS NOT NULL",
            began,
            ended,
        )
    finally:
        await conn.close()
    return [float(r["ms"]) for r in rows], len({r["sent_at"] for r in rows})


async def _still_moving(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        unsent: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    finally:
        await conn.close()
    return unsent > 0


# --- where the time goes ---------------------------------------------------------------------

# (needle in "path:function" of the function on top of a sampled stack, area), first match wins.
# Work in C counts to the Python function that called it: pydantic's validators to pydantic,
# asyncpg's encoders to asyncpg, json's scanner to json.
_CATEGORIES = (
    ("pydantic", "pydantic (validate / serialise)"),
    ("json/", "json (stdlib)"),
    ("asyncpg", "asyncpg (protocol, encode/decode)"),
    ("aiokafka", "aiokafka (fetch, record parsing, commit)"),
    ("orderstate/domain", "orderstate.domain (decide)"),
    ("orderstate/events", "orderstate.events (decode, outbound data)"),
    ("orderstate/projector", "orderstate.projector (apply_batch, writes)"),
    ("orderstate/worker", "orderstate.worker (loop, records)"),
    ("orderstate/relay", "orderstate.relay"),
    ("orderstate/", "orderstate, other modules"),
    ("structlog", "structlog"),
    ("prometheus", "prometheus_client"),
    ("tenacity", "tenacity"),
    ("uvloop", "event loop (uvloop, asyncio)"),
    ("asyncio", "event loop (uvloop, asyncio)"),
    ("uuid", "uuid / hashlib / zlib"),
    ("<string>:", "dataclass and NamedTuple constructors"),
    ("copy.py", "copy / dataclasses / enum"),
    ("dataclasses", "copy / dataclasses / enum"),
    ("enum.py", "copy / dataclasses / enum"),
    ("socket", "socket send / recv"),
    ("<frozen abc>", "abc isinstance checks"),
    ("<frozen", "other frozen stdlib (imports)"),
    ("importlib", "other frozen stdlib (imports)"),
    ("logging", "logging"),
)


# The steps of a batch (worker) and of a round (relay) the profile follows down the stack: a
# function's name as py-spy gives it, with its class and without its module.
PROFILE_STEPS = (
    "Worker.run",
    "Worker._process",
    "Worker._fetch",
    "Worker._collect",
    "read_record",
    "decode_record",
    "decode_kafka",
    "decode_event",
    "apply_batch",
    "_Batch.run",
    "_Batch._prepare",
    "_Batch._one",
    "decide",
    "fact_rows",
    "_Batch._accept",
    "BatchWrites.flush",
    "Connection._do_execute",
    "Worker._commit_to_kafka",
    "Relay._publish_round",
    "Relay._send",
    "binary_from_stored",
    "Relay._mark_sent",
)


def summarise_profile(path: Path) -> dict[str, Any]:
    """The sampled stacks of one process (bench/stacks.py), by area, by function and by step."""
    return asdict(stacks.summarise(path, areas=_CATEGORIES, steps=PROFILE_STEPS))


# --- apply_batch alone, statement by statement -----------------------------------------------


class _FakeRecord:
    """What read_record reads of an aiokafka ConsumerRecord."""

    __slots__ = ("headers", "key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(self, topic: str, offset: int, record: SimRecord) -> None:
        self.topic = topic
        self.partition = 0
        self.offset = offset
        self.key = record.key
        self.value = record.value
        self.headers = record.headers
        # The broker's append time, as if produced now.
        self.timestamp = int(time.time() * 1000)


_NAMES = {sql: name for name, sql in QUERIES.items()}


def _statement_name(sql: str) -> str:
    if sql in _NAMES:
        return _NAMES[sql]
    # A batch sends write_batch cut to the tables it writes (projector/write_statement.py).
    return "write_batch" if is_write_statement(sql) else sql.split(maxsplit=1)[0]


@dataclass
class StatementCost:
    """One statement's totals over a run: wall time of its round trips, this process's CPU
    in them (asyncpg's encoding and protocol), and its backend's CPU meanwhile."""

    name: str
    calls: int = 0
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0


class _TimedTransaction:
    def __init__(self, owner: "_TimedConn") -> None:
        self.owner = owner
        self.inner = owner.conn.transaction()

    async def __aenter__(self) -> "_TimedTransaction":
        with self.owner.metered("BEGIN"):
            await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with self.owner.metered("COMMIT" if exc[0] is None else "ROLLBACK"):
            await self.inner.__aexit__(*exc)


class _TimedConn:
    """Forwards to an asyncpg connection and meters every statement by its query name: wall
    time, this thread's CPU and its backend's CPU."""

    def __init__(self, conn: asyncpg.Connection, server: infra.ServerClock) -> None:
        self.conn = conn
        self.server = server
        self.costs: dict[str, StatementCost] = {}
        self.metering_s = 0.0

    @contextmanager
    def metered(self, name: str) -> Iterator[None]:
        # The backend's clock is read outside the client's CPU and wall readings, so they do
        # not include the reads; nothing else runs on this loop meanwhile. What the reads
        # cost this thread is kept apart, for a caller that splits its own CPU.
        outer0 = time.thread_time()
        s0 = self.server.ns()
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            c1, w1 = time.thread_time(), time.perf_counter()
            s1 = self.server.ns()
            self.metering_s += time.thread_time() - outer0 - (c1 - c0)
            cost = self.costs.setdefault(name, StatementCost(name))
            cost.calls += 1
            cost.wall_s += w1 - w0
            cost.client_cpu_s += c1 - c0
            cost.server_cpu_s += (s1 - s0) / 1e9

    def transaction(self) -> _TimedTransaction:
        return _TimedTransaction(self)

    async def _timed(self, method: str, sql: str, *args: Any) -> Any:
        with self.metered(_statement_name(sql)):
            return await getattr(self.conn, method)(sql, *args)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._timed("execute", sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._timed("fetch", sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._timed("fetchrow", sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._timed("fetchval", sql, *args)


@dataclass
class StatementProfile:
    events: int
    batches: int
    seconds: float
    decode_s: float
    apply_s: float
    # This thread's CPU in decode_record and in apply_batch (statements' client side included,
    # the metering's own reads of the server's clock not).
    decode_cpu_s: float
    apply_cpu_s: float
    # By wall time, largest first.
    statements: list[StatementCost]
    # How often each of the worker's hot paths ran (call_counts.PATHS), for ``events``.
    calls: Counter[str] = field(default_factory=Counter)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Figures pickled before the calls were counted (bench/run.py --render) have none.
        self.__dict__.update({"calls": Counter(), **state})

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def sql_s(self) -> float:
        return sum(s.wall_s for s in self.statements)


def read_inputs(
    records: list[SimRecord], offsets: Counter[str], limits: DecodeLimits
) -> list[Input]:
    """The records as the worker hands them to apply_batch: each read from its topic's next
    offset (``offsets`` counts per topic) on partition 0, with its clocks."""
    inputs = []
    for r in records:
        role = r.role.value
        fake = _FakeRecord(role, offsets[role], r)
        read = read_record(fake, r.role, limits)
        at = Position(role, 0, fake.offset, read.key_ms, fake.timestamp, fake.timestamp)
        inputs.append(read.input(fake, r.role, at))
        offsets[role] += 1
    return inputs


async def statement_profile(
    url: str,
    records: list[SimRecord],
    *,
    batch: int = 500,
    max_s: float = 25.0,
    max_batches: int | None = None,
) -> StatementProfile:
    """Decode and apply the records in order, ``batch`` at a time, in this process and
    without Kafka, metering every SQL statement of apply_batch: the wall time of its round
    trip, this thread's CPU in it and its backend's CPU (the server must be local). It also
    counts how often the hot paths of bench/hotpaths.py run (call_counts.py): a wrapper per
    call, about 0.1 µs, some 6 calls per event."""
    limits = DecodeLimits()
    calls: Counter[str] = Counter()
    offsets: Counter[str] = Counter()
    conn = await asyncpg.connect(url)
    server = infra.ServerClock(conn.get_server_pid())
    timed = _TimedConn(conn, server)
    policies = PolicyBook()
    decode_s = apply_s = decode_cpu = apply_cpu = 0.0
    events = batches = 0
    started = time.perf_counter()
    try:
        with call_counts.counted(calls):
            for start in range(0, len(records), batch):
                if time.perf_counter() - started > max_s or batches == max_batches:
                    break
                chunk = records[start : start + batch]
                t0, c0 = time.perf_counter(), time.thread_time()
                inputs = read_inputs(chunk, offsets, limits)
                t1, c1 = time.perf_counter(), time.thread_time()
                await apply_batch(
                    timed,  # type: ignore[arg-type]
                    inputs,
                    policies=policies,
                    now=datetime.now(UTC),
                    consumer_group="bench-statements",
                )
                t2, c2 = time.perf_counter(), time.thread_time()
                decode_s += t1 - t0
                apply_s += t2 - t1
                decode_cpu += c1 - c0
                apply_cpu += c2 - c1
                events += len(chunk)
                batches += 1
    finally:
        server.close()
        await conn.close()
    statements = sorted(timed.costs.values(), key=lambda c: c.wall_s, reverse=True)
    return StatementProfile(
        events,
        batches,
        time.perf_counter() - started,
        decode_s,
        apply_s,
        decode_cpu,
        apply_cpu - timed.metering_s,
        statements,
        calls,
    )
