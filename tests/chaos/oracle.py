"""What a fault-injection run must have produced, checked against the topics, the live
database, and a fault-free reference run of the same inbound log into another database."""

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstate.domain import PolicyBook
from orderstate.events.decode import DecodeLimits
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import expected_partition
from orderstate.settings import Settings
from orderstate.worker.loop import Worker
from orderstate.worker.records import read_record
from tests.chaos.load import RestResult
from tests.support.outbox_text import OUTBOX
from tests.support.projection import Projection, caught_up, differences, read_projection

__all__ = [
    "Accounting",
    "Outbound",
    "check_outbound",
    "check_rest",
    "classify",
    "count_inbound",
    "reference_run",
]

API_SOURCE = "orderstate/api"
INBOUND = {"shop.orders.v1": TopicRole.ORDERS_IN, "shop.shipments.v1": TopicRole.SHIPMENTS_IN}


async def _read_topic(kafka: str, topic: str) -> list[Any]:
    """Every record of ``topic``, in partition and offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        # `orderstate topics create` made every topic with the default 6 partitions.
        parts = [TopicPartition(topic, p) for p in range(6)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: dict[TopicPartition, list[Any]] = defaultdict(list)
        position = {tp: 0 for tp in parts}
        while any(position[tp] < ends[tp] for tp in parts):
            got = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, batch in got.items():
                records[tp].extend(batch)
            for tp in parts:
                position[tp] = await consumer.position(tp)
    finally:
        await consumer.stop()
    return [r for tp in parts for r in records[tp]]


# -- the reference run ----------------------------------------------------------------------


async def reference_run(
    live: Settings, database_url: str, kafka: str, *, timeout_s: float
) -> float:
    """Project the inbound topics as they are now into ``database_url`` with one worker and no
    fault; return how long it took."""
    settings = live.model_copy(
        update={
            "database_url": live.database_url.__class__(database_url),
            "consumer_group": "chaos-reference",
        }
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    stop = asyncio.Event()
    worker = Worker(
        settings, PolicyBook(), pool, stop=stop, watchdog_timeout_s=300, markers="settle"
    )
    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not await caught_up(kafka, database_url, "chaos-reference", INBOUND):
                if task.done():
                    raise RuntimeError(f"the reference worker ended: {task.result()}")
                await asyncio.sleep(1)
    finally:
        stop.set()
        await task
        await pool.close()
    return asyncio.get_running_loop().time() - started


# -- live against reference -----------------------------------------------------------------


@dataclass
class Comparison:
    orders: int
    differing: set[tuple[str, str]]
    # Orders whose differences come from the named nondeterminism "a REST write decided
    # before a Kafka event that precedes its log record" (docs/reliability.md).
    rest_race: set[tuple[str, str]]
    unexplained: list[str]


def _order_of(table: str, key: Any, left: Any, right: Any) -> tuple[str, str] | None:
    value = left if left is not None else right
    if table in ("orders",):
        return (key[0], key[1])
    if table == "history":
        return (key[0], key[1])
    if table in ("processed", "parked"):
        return (value[0], value[1])
    if table == "rejected":
        return (key[0], key[1])
    if table == "published":
        return (value["shopid"], value["orderid"])
    return None


async def classify(live_url: str, reference_url: str, kafka: str) -> Comparison:
    live = await read_projection(live_url)
    reference = await read_projection(reference_url)
    differing: set[tuple[str, str]] = set()
    for table in set(live.tables) | set(reference.tables):
        left, right = live.tables.get(table, {}), reference.tables.get(table, {})
        for key in set(left) | set(right):
            if left.get(key) != right.get(key):
                order = _order_of(table, key, left.get(key), right.get(key))
                if order is not None:
                    differing.add(order)
    raced = await _rest_raced_orders(live_url, reference_url)
    rest_race = differing & raced
    unexplained_orders = differing - raced
    lines = []
    if unexplained_orders:
        only = Projection(
            {
                t: {k: v for k, v in rows.items() if _order_of(t, k, v, v) in unexplained_orders}
                for t, rows in live.tables.items()
            }
        )
        other = Projection(
            {
                t: {k: v for k, v in rows.items() if _order_of(t, k, v, v) in unexplained_orders}
                for t, rows in reference.tables.items()
            }
        )
        lines = differences(only, other, limit=10)
    return Comparison(len(live.orders()), differing, rest_race, lines)


async def _decision_orders(url: str) -> dict[tuple[str, str], list[str]]:
    """Per order, the ids of the events that changed or were refused for it, in the order
    they were decided: the outbox rows of a database are inserted in that order."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT shop_id, order_id, event::jsonb #>> '{data,cause_event_id}' AS cause, "  # noqa: S608 -- a fixed fragment
            "event::jsonb #>> '{data,original,event_id}' AS rejected "
            f"FROM {OUTBOX} WHERE topic_role IN ('order_events_out', 'rejected_out') ORDER BY id"
        )
    finally:
        await conn.close()
    orders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        cause = r["cause"] or r["rejected"]
        if cause and (
            not orders[(r["shop_id"], r["order_id"])]
            or orders[(r["shop_id"], r["order_id"])][-1] != cause
        ):
            orders[(r["shop_id"], r["order_id"])].append(cause)
    return orders


async def _rest_raced_orders(live_url: str, reference_url: str) -> set[tuple[str, str]]:
    """Orders where a REST write and a Kafka event were decided live in the other order than
    the log gives them (the reference run decides in log order), or where a REST write was
    decided differently because of that: a REST write is decided when it is answered and
    reaches the log only afterwards, so a Kafka event already in the log but not yet applied
    is decided after it live, and before it in a replay."""
    conn = await asyncpg.connect(live_url)
    try:
        rest = {
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id FROM processed_events WHERE source = $1", API_SOURCE
            )
        }
    finally:
        await conn.close()
    live = await _decision_orders(live_url)
    reference = await _decision_orders(reference_url)
    raced = set()
    for order in set(live) | set(reference):
        left, right = live.get(order, []), reference.get(order, [])
        if left == right:
            continue
        lp = {c: i for i, c in reversed(list(enumerate(left)))}
        rp = {c: i for i, c in reversed(list(enumerate(right)))}
        for r in (set(lp) | set(rp)) & rest:
            if (r in lp) != (r in rp):
                raced.add(order)
                break
            others = [e for e in set(lp) & set(rp) if e not in rest]
            if any((lp[r] < lp[e]) != (rp[r] < rp[e]) for e in others):
                raced.add(order)
                break
    return raced


# -- the outbound topics --------------------------------------------------------------------


@dataclass
class Outbound:
    events: int = 0
    keys: int = 0
    duplicates: int = 0
    gaps_or_reorders: int = 0
    not_matching_last_sequence: int = 0
    duplicate_with_other_content: int = 0
    rejected_events: int = 0
    rejected_duplicates: int = 0
    rejected_missing: int = 0
    examples: list[str] = field(default_factory=list)


async def check_outbound(kafka: str, live_url: str) -> Outbound:
    out = Outbound()
    per_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in await _read_topic(kafka, "orderstate.order-events.v1"):
        headers = dict(record.headers or ())
        per_key[record.key.decode()].append(
            (int(headers["ce_sequence"]), headers["ce_id"].decode())
        )
        out.events += 1
    conn = await asyncpg.connect(live_url)
    try:
        last = {
            f"{r['shop_id']}:{r['order_id']}": r["last_sequence"]
            for r in await conn.fetch("SELECT shop_id, order_id, last_sequence FROM orders")
        }
        rejected_rows = await conn.fetchval("SELECT count(*) FROM rejected_events")
    finally:
        await conn.close()
    out.keys = len(per_key)
    for key, events in per_key.items():
        first: dict[int, str] = {}
        order = []
        for sequence, event_id in events:
            if sequence in first:
                out.duplicates += 1
                if first[sequence] != event_id:
                    out.duplicate_with_other_content += 1
                continue
            first[sequence] = event_id
            order.append(sequence)
        if order != list(range(1, len(order) + 1)):
            out.gaps_or_reorders += 1
            if len(out.examples) < 5:
                out.examples.append(f"{key}: sequences by first occurrence {order[:20]}")
        if last.get(key) != len(order):
            out.not_matching_last_sequence += 1
            if len(out.examples) < 5:
                out.examples.append(f"{key}: {len(order)} events, last_sequence {last.get(key)}")
    ids: Counter[bytes] = Counter()
    for record in await _read_topic(kafka, "orderstate.rejected.v1"):
        ids[dict(record.headers or ())["ce_id"]] += 1
    out.rejected_events = sum(ids.values())
    out.rejected_duplicates = sum(n - 1 for n in ids.values())
    out.rejected_missing = max(rejected_rows - len(ids), 0)
    return out


# -- REST writes ----------------------------------------------------------------------------


async def check_rest(live_url: str, results: list[RestResult]) -> tuple[Counter[str], list[str]]:
    """Every REST write that got a 2xx answer is in the final view."""
    statuses: Counter[str] = Counter()
    missing: list[str] = []
    conn = await asyncpg.connect(live_url)
    try:
        for r in results:
            statuses[f"{r.kind} {r.status}"] += 1
            if r.status is None or not 200 <= r.status < 300:
                continue
            if r.kind == "create":
                found = await conn.fetchval(
                    "SELECT count(*) FROM orders WHERE shop_id = $1 AND order_id = $2",
                    r.shop,
                    r.order,
                )
            elif r.kind == "tag":
                ((tag, value),) = r.expect["tags"].items()
                found = await conn.fetchval(
                    "SELECT count(*) FROM orders "
                    "WHERE shop_id = $1 AND order_id = $2 AND tags ->> $3 = $4",
                    r.shop,
                    r.order,
                    tag,
                    value,
                )
            elif r.recorded_as == "duplicate":
                # The order already was in that state (rule 3): no history entry, but it must
                # still be in it, or have moved on past it.
                found = await conn.fetchval(
                    "SELECT count(*) FROM order_state_history WHERE shop_id = $1 AND order_id = $2 "
                    "AND state = $3",
                    r.shop,
                    r.order,
                    r.expect["state"],
                )
            else:
                found = await conn.fetchval(
                    "SELECT count(*) FROM order_state_history WHERE shop_id = $1 AND order_id = $2 "
                    "AND state = $3 AND occurred_at = $4",
                    r.shop,
                    r.order,
                    r.expect["state"],
                    r.expect["occurred_at"],
                )
            if not found:
                missing.append(f"{r.kind} {r.shop}:{r.order} {r.expect} answered {r.status}")
    finally:
        await conn.close()
    return statuses, missing


# -- every inbound record accounted for exactly once ---------------------------------------


@dataclass
class Accounting:
    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


async def count_inbound(kafka: str, live_url: str) -> Accounting:
    acc = Accounting()
    conn = await asyncpg.connect(live_url)
    try:
        processed = {
            (r["source"], r["event_id"]): r["outcome"]
            for r in await conn.fetch("SELECT source, event_id, outcome FROM processed_events")
        }
        parked = {
            (r["source"], r["event_id"])
            for r in await conn.fetch("SELECT source, event_id FROM parked_events")
        }
    finally:
        await conn.close()
    seen: set[tuple[str, str]] = set()
    limits = DecodeLimits()
    for topic, role in INBOUND.items():
        for record in await _read_topic(kafka, topic):
            read = read_record(record, role, limits)
            if read.marker or read.tick:
                acc.outcomes["merge marker or clock tick (not an event)"] += 1
                continue
            acc.records += 1
            if read.decoded is None:
                identity = (f"kafka:{topic}", f"{record.partition}:{record.offset}")
                outcome = processed.get(identity)
                if outcome != "malformed":
                    acc.problems.append(f"malformed record {identity} has outcome {outcome!r}")
                acc.outcomes["malformed"] += 1
                continue
            if record.partition != expected_partition(record.key, 6):
                acc.outcomes["forwarded to its partition"] += 1
                continue
            event = read.decoded.event
            identity = (event.source, event.id)
            if identity in seen:
                acc.outcomes["duplicate (redelivered)"] += 1
                continue
            seen.add(identity)
            outcome = processed.get(identity)
            if outcome is None:
                acc.problems.append(f"{topic} {identity} was never decided")
                continue
            if outcome == "parked" and identity not in parked:
                acc.problems.append(f"{identity} says parked but is not parked")
            acc.outcomes[outcome] += 1
    missing = set(processed) - seen - {k for k in processed if k[0].startswith("kafka:")}
    if missing:
        acc.problems.append(
            f"{len(missing)} decided events are not in the log, e.g. {sorted(missing)[:3]}"
        )
    return acc


def to_json(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)
