"""The ceilings orderstate is measured against: how fast aiokafka alone reads the input topics,
and how fast PostgreSQL alone takes batched upserts of the order views."""

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

import infra
from orderstate.events.decode import DecodeLimits
from orderstate.events.topics import TopicRole
from orderstate.projector.inputs import Position
from orderstate.projector.queries import query
from orderstate.worker.records import read_record
from tests.support.kafka import TopicNames

__all__ = [
    "ConsumeResult",
    "FaustResult",
    "UpsertResult",
    "raw_consume",
    "raw_upsert",
    "run_faust",
]


def upsert_orders_sql() -> str:
    """PostgreSQL's batched-upsert ceiling: the orders part of orderstate's write statement
    (queries.sql, ``write_batch``) on its own, its parameters renumbered from $1 (in the
    worker's statement $1 is the batch's time)."""
    sql = query("write_batch")
    part = sql[sql.index("INSERT INTO orders") : sql.index("), items_dropped AS")]
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) - 1}", part)


@dataclass(frozen=True)
class ConsumeResult:
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds


async def raw_consume(
    kafka: str,
    ends: dict[TopicPartition, int],
    *,
    roles: dict[str, TopicRole] | None = None,
) -> ConsumeResult:
    """Read every partition from the beginning to ``ends``, with the worker's fetch settings
    (read_committed, 500 records per getmany). With ``roles``, also turn every record into an
    ``apply_batch`` input exactly as the worker's fetch task does (decode_record)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=500,
    )
    await consumer.start()
    limits = DecodeLimits()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        remaining = {tp for tp, end in ends.items() if end > 0}
        count = 0
        started = time.perf_counter()
        while remaining:
            got = await consumer.getmany(timeout_ms=1000, max_records=500)
            for tp, batch in got.items():
                count += len(batch)
                if roles is not None:
                    for r in batch:
                        read = read_record(r, roles[r.topic], limits)
                        at = Position(r.topic, r.partition, r.offset, read.key_ms, r.timestamp)
                        read.input(r, roles[r.topic], at)
                if batch and batch[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return ConsumeResult(count, seconds)


_COLUMNS = (
    "shop_id, order_id, order_url, order_date, language, promised_delivery_date, tags::text, "
    "boarding_complete, state, payment_evidence, version, deleted, created_at, updated_at, view, "
    "last_sequence"
)


@dataclass(frozen=True)
class UpsertResult:
    rows: int
    batch_size: int
    insert_rows: int
    insert_seconds: float
    update_rows: int
    update_seconds: float

    @property
    def insert_rate(self) -> float:
        return self.insert_rows / self.insert_seconds

    @property
    def update_rate(self) -> float:
        return self.update_rows / self.update_seconds


async def raw_upsert(
    source_url: str, target_url: str, *, batch_size: int = 500, min_update_s: float = 5.0
) -> UpsertResult:
    """Upsert real order rows (taken from ``source_url``) into an empty migrated database with
    the orders part of orderstate's own ``write_batch`` statement (INSERT ... SELECT FROM
    unnest ... ON CONFLICT DO UPDATE), ``batch_size`` rows per statement, each statement its
    own transaction. The first pass inserts; later passes update every row (version + 1) for
    at least ``min_update_s`` seconds."""
    source = await asyncpg.connect(source_url)
    try:
        rows = [tuple(r) for r in await source.fetch(f"SELECT {_COLUMNS} FROM orders")]
    finally:
        await source.close()
    if not rows:
        raise RuntimeError("no order rows to upsert")
    sql = upsert_orders_sql()
    target = await asyncpg.connect(target_url)
    try:
        insert_s = await _pass(target, sql, rows, batch_size)
        update_rows, update_s, bump = 0, 0.0, 0
        while update_s < min_update_s:
            bump += 1
            bumped = [(*r[:10], r[10] + bump, *r[11:]) for r in rows]
            update_s += await _pass(target, sql, bumped, batch_size)
            update_rows += len(rows)
    finally:
        await target.close()
    return UpsertResult(len(rows), batch_size, len(rows), insert_s, update_rows, update_s)


async def _pass(conn: Any, sql: str, rows: list[tuple[Any, ...]], batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        await conn.execute(sql, *(list(col) for col in zip(*chunk, strict=True)))
    return time.perf_counter() - started


@dataclass(frozen=True)
class FaustResult:
    events: int
    seconds: float
    startup_s: float
    outcomes: dict[str, int]
    hwm_kb: int | None
    cpu: dict[str, float]
    finished_input: bool

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def run_faust(
    ends: infra.Endpoints,
    scratch: infra.Scratch,
    topics: TopicNames,
    url: str,
    logs: Path,
    *,
    total: int,
    time_box_s: float,
    startup_timeout_s: float = 120,
) -> FaustResult:
    """Start bench/faust_agent.py as its own process and count the events it completes within
    ``time_box_s`` seconds of its first event (or until it has read all ``total`` records)."""
    app_id = scratch.group("faust")
    stats = logs / "faust-stats.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORDERSTATE_", "BENCH_"))},
        "BENCH_FAUST_APP_ID": app_id,
        "BENCH_FAUST_KAFKA": ends.kafka,
        "BENCH_FAUST_DATABASE_URL": url,
        "BENCH_FAUST_ORDERS": topics.orders,
        "BENCH_FAUST_SHIPMENTS": topics.shipments,
        "BENCH_FAUST_STATS": str(stats),
        "BENCH_FAUST_DATADIR": str(logs / "faust-data"),
    }
    cpu = infra.CpuMeter({"postgres (all backends)": (ends.postmaster_pid, True)})
    started = time.time()
    process = infra.start(
        [
            str(infra.PYTHON),
            str(Path(__file__).with_name("faust_agent.py")),
            "worker",
            "-l",
            "warn",
        ],
        env,
        logs / "faust.log",
    )
    try:
        progress: dict[str, Any] = {}
        while True:
            if process.poll() is not None:
                tail = (logs / "faust.log").read_text().splitlines()[-30:]
                raise RuntimeError(
                    f"faust agent exited with {process.returncode}:\n" + "\n".join(tail)
                )
            if stats.exists():
                progress = json.loads(stats.read_text())
            first = progress.get("first")
            if first is None:
                if time.time() - started > startup_timeout_s:
                    raise TimeoutError(f"faust read nothing within {startup_timeout_s:g} s")
            else:
                if not cpu.pids.get("faust agent"):
                    cpu.start()
                    cpu.add("faust agent", process.pid)
                if progress["count"] >= total or progress["at"] - first >= time_box_s:
                    break
            await asyncio.sleep(0.25)
        cpu.stop()
        hwm = infra.status_kb(process.pid, "VmHWM")
    finally:
        infra.stop(process)
    return FaustResult(
        events=progress["count"],
        seconds=progress["at"] - progress["first"],
        startup_s=progress["first"] - started,
        outcomes=dict(progress["outcomes"]),
        hwm_kb=hwm,
        cpu=cpu.result,
        finished_input=progress["count"] >= total,
    )
