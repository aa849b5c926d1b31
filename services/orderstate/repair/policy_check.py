"""``orderstate policy check``: the recent events of some shops, read back from the inbound
topics, decided under the current policy and under a proposed one (docs/redrive.md).

Where each order starts: the state just before its first event of the window, from the
order event log (order_events). Of the window's events of the order, the first one the log
names as the cause of a change recorded at or after the window's start was applied at the
sequence the log gives it; the order before it is the log's snapshot one sequence earlier.
When none of them changed the order, it did not change in the window and starts as it is
now. Events merge across the two inbound topics as the worker merges them (worker/merge.py),
from the start of the window. Reads only: nothing is written anywhere.
"""

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from orderstate.api.history import view_of_snapshot
from orderstate.domain import HistoryEntry, OrderView
from orderstate.events.decode import Decoded, DecodeLimits
from orderstate.events.envelope import API_SOURCE
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import expected_partition, kafka_options
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query
from orderstate.projector.stored_views import entry_of_row, load_views
from orderstate.repair.policy_diff import OrderWindow
from orderstate.repair.replay import Step
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client
from orderstate.worker.merge import ORDERS, SHIPMENTS, PairMerge, Side
from orderstate.worker.records import read_record

__all__ = ["TopicsMissingError", "Window", "read_window", "starting_points"]

_END = 2**62


class TopicsMissingError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class _Seen:
    decoded: Decoded
    timestamp_ms: int


@dataclass
class Window:
    """The shops' decodable events of the window, per order in merged order."""

    orders: dict[tuple[str, str], list[_Seen]] = field(default_factory=dict)
    records: int = 0
    # Partitions whose earliest kept record is already inside the window: records before it
    # were deleted (retention), and may have been inside it too.
    cut_partitions: list[str] = field(default_factory=list)


async def read_window(
    settings: Settings,
    shops: set[str],
    since: datetime,
    *,
    on_total: Callable[[int], Any],
    advance: Callable[[int], Any],
) -> Window:
    consumer = AIOKafkaConsumer(
        **kafka_options(settings, role="policy-check"),
        enable_auto_commit=False,
        group_id=None,
        # As the worker reads: records of aborted or open transactions were never decided.
        isolation_level="read_committed",
    )
    await start_kafka_client(consumer, settings, "policy check", quiet=True)
    try:
        return await _read(
            consumer,
            settings,
            shops=shops,
            since_ms=int(since.timestamp() * 1000),
            on_total=on_total,
            advance=advance,
        )
    finally:
        await consumer.stop()


async def _read(
    consumer: AIOKafkaConsumer,
    settings: Settings,
    *,
    shops: set[str],
    since_ms: int,
    on_total: Callable[[int], Any],
    advance: Callable[[int], Any],
) -> Window:
    topics = {
        settings.topic_orders: (TopicRole.ORDERS_IN, ORDERS),
        settings.topic_shipments: (TopicRole.SHIPMENTS_IN, SHIPMENTS),
    }
    counts = await _partition_counts(settings, list(topics))
    tps = [TopicPartition(t, p) for t in topics for p in range(counts[t])]
    consumer.assign(tps)
    starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
    ends = await consumer.end_offsets(tps)
    beginnings = await consumer.beginning_offsets(tps)
    window = Window()
    first: dict[TopicPartition, int] = {}
    for tp in tps:
        found_at = starts.get(tp)
        first[tp] = found_at.offset if found_at is not None else ends[tp]
        if found_at is not None and found_at.offset == beginnings[tp] and beginnings[tp] > 0:
            window.cut_partitions.append(f"{tp.topic}/{tp.partition}")
        consumer.seek(tp, first[tp])
    on_total(sum(ends[tp] - first[tp] for tp in tps))
    merges: dict[int, PairMerge[_Seen | None]] = defaultdict(PairMerge)
    limits = DecodeLimits(max_payload_bytes=settings.max_payload_bytes)
    pending = {tp for tp in tps if first[tp] < ends[tp]}
    while pending:
        fetched = await consumer.getmany(*pending, timeout_ms=500)
        for tp, records in fetched.items():
            role, side = topics[tp.topic]
            merge = merges[tp.partition]
            taken = 0
            for record in records:
                if record.offset >= ends[tp]:
                    break
                taken += 1
                _push(
                    merge,
                    side,
                    record,
                    role=role,
                    limits=limits,
                    partitions=counts[tp.topic],
                    shops=shops,
                )
            window.records += taken
            advance(taken)
            _collect(window, merge.release())
        # The consumer's position, not the last record: it steps over transaction markers,
        # which take offsets but are never returned as records.
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
    for merge in merges.values():
        # The end of the window: whatever the twin would receive next sorts after it all.
        merge.advance(ORDERS, _END)
        merge.advance(SHIPMENTS, _END)
        _collect(window, merge.release())
    return window


async def _partition_counts(settings: Settings, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="policy-check"))
    await start_kafka_client(admin, settings, "policy check", quiet=True)
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    counts = {d["topic"]: len(d["partitions"]) for d in described if not d["error_code"]}
    for topic in topics:
        if not counts.get(topic):
            raise TopicsMissingError(
                f"the inbound topic {topic} does not exist (ORDERSTATE_TOPIC_ORDERS and "
                "ORDERSTATE_TOPIC_SHIPMENTS name the inbound topics)"
            )
    return counts


def _push(
    merge: "PairMerge[_Seen | None]",
    side: Side,
    record: Any,
    *,
    role: TopicRole,
    limits: DecodeLimits,
    partitions: int,
    shops: set[str],
) -> None:
    # As the worker's sequencer: every record moves its partition's time; markers only settle
    # the order; a record in a partition its key does not map to is decided from its copy.
    read = read_record(record, role, limits)
    time_ms = merge.advance(side, read.key_ms)
    item = None
    if read.decoded is not None and read.decoded.event.shopid in shops:
        misplaced = record.partition != expected_partition(record.key, partitions)
        item = None if misplaced else _Seen(read.decoded, record.timestamp)
    merge.push(side, time_ms, item, real=not read.marker)


def _collect(window: Window, released: list[tuple[int, "_Seen | None"]]) -> None:
    for _, seen in released:
        if seen is not None:
            event = seen.decoded.event
            window.orders.setdefault((event.shopid, event.orderid), []).append(seen)


async def starting_points(
    conn: Conn, window: Window, since: datetime
) -> tuple[list[OrderWindow], list[tuple[str, str]]]:
    """Each order's window events (redeliveries left out) with its state just before the
    first of them; and the orders whose log does not reach back that far (history_not_kept)."""
    events = _first_deliveries(window)
    idents = sorted(
        {(s.decoded.event.source, s.decoded.event.id) for e in events.values() for s in e}
    )
    earlier: set[tuple[str, str]] = set()
    if idents:
        rows = await conn.fetch(
            query("policy_check_processed_before"),
            [s for s, _ in idents],
            [i for _, i in idents],
            since,
        )
        earlier = {(r["source"], r["event_id"]) for r in rows}
    events = {
        key: kept
        for key, seen in events.items()
        if (
            kept := [s for s in seen if (s.decoded.event.source, s.decoded.event.id) not in earlier]
        )
    }
    keys = sorted(events)
    log: dict[tuple[str, str], list[Any]] = defaultdict(list)
    if keys:
        for row in await conn.fetch(
            query("policy_check_log"), [s for s, _ in keys], [o for _, o in keys]
        ):
            log[(row["shop_id"], row["order_id"])].append(row)
    base: dict[tuple[str, str], int] = {}
    not_kept: list[tuple[str, str]] = []
    current: list[tuple[str, str]] = []
    for key in keys:
        rows = log.get(key, [])
        if not rows:
            # Never logged: not created, or created before the log began and unchanged since.
            current.append(key)
            continue
        caused: dict[str, int] = {}
        for row in rows:
            if row["recorded_at"] >= since and row["cause"] is not None:
                caused.setdefault(row["cause"], row["sequence"])
        first = next(
            (caused[s.decoded.event.id] for s in events[key] if s.decoded.event.id in caused),
            None,
        )
        start = rows[-1]["sequence"] if first is None else first - 1
        if start > 0 and start < rows[0]["sequence"]:
            not_kept.append(key)
        elif start > 0:
            base[key] = start
    views = await _snapshots(conn, base)
    views.update(
        await load_views(conn, current, [s.decoded.change for k in current for s in events[k]])
    )
    windows = [
        OrderWindow(
            key[0],
            key[1],
            views.get(key),
            [
                (
                    s.decoded,
                    Step(
                        s.decoded.change, _at(s.timestamp_ms), s.decoded.event.source == API_SOURCE
                    ),
                )
                for s in events[key]
            ],
        )
        for key in keys
        if key not in not_kept
    ]
    return windows, not_kept


def _first_deliveries(window: Window) -> dict[tuple[str, str], list[_Seen]]:
    seen: set[tuple[str, str]] = set()
    out: dict[tuple[str, str], list[_Seen]] = {}
    for key, items in window.orders.items():
        kept = []
        for item in items:
            ident = (item.decoded.event.source, item.decoded.event.id)
            if ident not in seen:
                seen.add(ident)
                kept.append(item)
        out[key] = kept
    return out


async def _snapshots(
    conn: Conn, base: dict[tuple[str, str], int]
) -> dict[tuple[str, str], OrderView]:
    if not base:
        return {}
    keys = sorted(base)
    rows = await conn.fetch(
        query("policy_check_snapshots"),
        [s for s, _ in keys],
        [o for _, o in keys],
        [base[k] for k in keys],
    )
    snapshots = {(r["shop_id"], r["order_id"]): r for r in rows}
    history: dict[tuple[str, str], list[HistoryEntry]] = defaultdict(list)
    lengths = [snapshots[k]["history_len"] if k in snapshots else 0 for k in keys]
    for h in await conn.fetch(
        query("histories_up_to"), [s for s, _ in keys], [o for _, o in keys], lengths
    ):
        history[(h["shop_id"], h["order_id"])].append(entry_of_row(h))
    return {
        key: view_of_snapshot(key[0], json.loads(row["event"])["data"]["order"], history[key])
        for key, row in snapshots.items()
    }


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
