"""What a projection holds, without the wall clock: for comparing two databases that were fed
the same inbound log ("same log, same orders", docs/reliability.md).

Every table is read into rows keyed by what identifies them. The only fields left out are
the ones that record when orderstate did something (created_at, updated_at, recorded_at,
processed_at, rejected_at, parked_at, sent_at, the outbound events' ``time``): they
differ between any two runs by design. Everything else must be equal.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support.outbox_text import OUTBOX

__all__ = ["Projection", "differences", "read_projection"]

_VIEW_CLOCK = ("created_at", "updated_at")


@dataclass
class Projection:
    # Per table: identity -> row (a JSON-ready dict without wall-clock fields).
    tables: dict[str, dict[Any, Any]] = field(default_factory=dict)

    def orders(self) -> set[str]:
        return {key[1] for key in self.tables.get("orders", {})}


def _strip_view(text: str) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(text)
    for name in _VIEW_CLOCK:
        view.pop(name, None)
    for entry in view.get("history", []):
        entry.pop("recorded_at", None)
    return view


def _strip_event(text: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(text)
    event.pop("time", None)
    order = event.get("data", {}).get("order")
    if isinstance(order, dict):
        for name in _VIEW_CLOCK:
            order.pop(name, None)
    return event


async def read_projection(url: str, *, shops: Iterable[str] | None = None) -> Projection:
    """Every order-related row of the database at ``url`` (of the given shops only, if set)."""
    conn = await asyncpg.connect(url)
    try:
        only = list(shops) if shops is not None else None
        where = (
            "WHERE shop_id = ANY($1::text[])" if only is not None else "WHERE $1::text[] IS NULL"
        )
        tables: dict[str, dict[Any, Any]] = {}

        rows = await conn.fetch(
            f"SELECT shop_id, order_id, view, last_sequence, state, version FROM orders {where}",
            only,
        )
        tables["orders"] = {
            (r["shop_id"], r["order_id"]): {
                "view": _strip_view(r["view"]),
                "last_sequence": r["last_sequence"],
            }
            for r in rows
        }
        rows = await conn.fetch(
            "SELECT shop_id, order_id, seq, state, occurred_at, cause_event_id, late, location "
            f"FROM order_state_history {where}",
            only,
        )
        tables["history"] = {
            (r["shop_id"], r["order_id"], r["seq"]): (
                r["state"],
                r["occurred_at"].isoformat(),
                r["cause_event_id"],
                r["late"],
                r["location"],
            )
            for r in rows
        }
        rows = await conn.fetch(
            f"SELECT source, event_id, shop_id, order_id, outcome FROM processed_events {where}",
            only,
        )
        tables["processed"] = {
            (r["source"], r["event_id"]): (r["shop_id"], r["order_id"], r["outcome"]) for r in rows
        }
        rows = await conn.fetch(
            "SELECT shop_id, order_id, source, event_id, event_type, reason, message, "
            f"original::text AS original FROM rejected_events {where}",
            only,
        )
        rejected: dict[Any, Any] = {}
        for r in rows:
            original = json.loads(r["original"])
            identity = (
                r["shop_id"],
                r["order_id"],
                r["source"],
                r["event_id"] or original.get("event_id"),
                original.get("topic"),
                original.get("partition"),
                original.get("offset"),
                r["reason"],
            )
            rejected[identity] = rejected.get(identity, 0) + 1
        tables["rejected"] = rejected
        rows = await conn.fetch(
            "SELECT source, event_id, shop_id, order_id, pair, source_topic, source_offset, "
            f"due_ms FROM parked_events {where}",
            only,
        )
        tables["parked"] = {
            (r["source"], r["event_id"]): (
                r["shop_id"],
                r["order_id"],
                r["pair"],
                r["due_ms"],
            )
            for r in rows
        }
        rows = await conn.fetch(
            f"SELECT topic_role, event_id, event FROM {OUTBOX} {where} "
            "AND topic_role IN ('order_events_out', 'rejected_out')",
            only,
        )
        tables["published"] = {
            (r["topic_role"], r["event_id"]): _strip_event(r["event"]) for r in rows
        }
    finally:
        await conn.close()
    return Projection(tables)


def differences(a: Projection, b: Projection, *, limit: int = 20) -> list[str]:
    """Human-readable differences, table by table, at most ``limit`` per table."""
    out: list[str] = []
    for table in sorted(set(a.tables) | set(b.tables)):
        left, right = a.tables.get(table, {}), b.tables.get(table, {})
        found = 0
        for key in sorted(set(left) | set(right), key=repr):
            if left.get(key) != right.get(key):
                found += 1
                if found <= limit:
                    out.append(f"{table} {key!r}: {left.get(key)!r} != {right.get(key)!r}")
        if found > limit:
            out.append(f"{table}: {found - limit} more differences")
    return out


async def caught_up(
    kafka: str, database_url: str, group: str, topics: Iterable[str], *, partitions: int = 6
) -> bool:
    """The group's stored offsets reached the end of every partition of ``topics`` (markers a
    run appends come after every real record, so the end may still move)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, isolation_level="read_committed")
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
            group,
        )
    finally:
        await conn.close()
    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    return all(stored.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items() if end)
