"""(c) The per-event baseline: a faust-streaming agent doing orderstate's job the way most
teams would first write it, one PostgreSQL transaction per event.

For every record of the two inbound topics, in one asyncpg transaction: skip it if its
(source, id) is in processed_events, load the order view FOR UPDATE, call ``decide``, write
the view (the orders row), the outbox rows, and the processed_events row; a rejection writes
rejected_events and its outbox row, a shipment before its order is parked and applied when
the order arrives, a malformed record writes rejected_events and its outbox row. It does not
write order_items, order_shipments, order_state_history or consumer offsets, which the
orderstate worker does: the baseline does less work per event than orderstate.

Run by bench/run.py as ``python bench/faust_agent.py worker -l warning``, configured through
BENCH_FAUST_* variables; it writes its progress to BENCH_FAUST_STATS every half second.
"""

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import faust

from orderstate.domain import (
    Accepted,
    Change,
    Effect,
    OrderView,
    Parked,
    PolicyBook,
    Rejected,
    decide,
)
from orderstate.events.decode import decode_event, decode_record
from orderstate.events.envelope import CloudEvent
from orderstate.events.errors import DecodeError
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.projector.outbox_rows import OutboxRow, fact_rows, rejection_row

APP_ID = os.environ["BENCH_FAUST_APP_ID"]
DATABASE_URL = os.environ["BENCH_FAUST_DATABASE_URL"]
ORDERS = os.environ["BENCH_FAUST_ORDERS"]
SHIPMENTS = os.environ["BENCH_FAUST_SHIPMENTS"]
STATS = Path(os.environ["BENCH_FAUST_STATS"])
ROLES = {ORDERS: TopicRole.ORDERS_IN, SHIPMENTS: TopicRole.SHIPMENTS_IN}
POLICIES = PolicyBook()

app = faust.App(
    APP_ID,
    broker=f"kafka://{os.environ['BENCH_FAUST_KAFKA']}",
    store="memory://",
    datadir=os.environ["BENCH_FAUST_DATADIR"],
    web_enabled=False,
    web_host="127.0.0.1",
    consumer_auto_offset_reset="earliest",
    topic_partitions=6,
)
inbound = app.topic(
    ORDERS,
    SHIPMENTS,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)

_progress: dict[str, Any] = {"first": None, "count": 0, "outcomes": Counter()}

_UPSERT_ORDER = """
INSERT INTO orders (shop_id, order_id, order_url, order_date, language, promised_delivery_date,
                    tags, boarding_complete, state, payment_evidence, version, deleted,
                    created_at, updated_at, view)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (shop_id, order_id) DO UPDATE SET
    order_url = EXCLUDED.order_url, order_date = EXCLUDED.order_date,
    language = EXCLUDED.language, promised_delivery_date = EXCLUDED.promised_delivery_date,
    tags = EXCLUDED.tags, boarding_complete = EXCLUDED.boarding_complete,
    state = EXCLUDED.state, payment_evidence = EXCLUDED.payment_evidence,
    version = EXCLUDED.version, deleted = EXCLUDED.deleted, created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at, view = EXCLUDED.view
"""
_INSERT_OUTBOX = (
    "INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, event, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_INSERT_REJECTED = (
    "INSERT INTO rejected_events (shop_id, order_id, source, event_id, event_type, reason, "
    "message, original, rejected_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)"
)


@app.agent(inbound)
async def project(stream: Any) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        async for event in stream.events():
            if _progress["first"] is None:
                _progress["first"] = time.time()
            message = event.message
            outcome = await handle(
                conn,
                message.topic,
                message.partition,
                message.offset,
                message.key,
                message.value,
                list(message.headers or ()),
            )
            _progress["count"] += 1
            _progress["outcomes"][outcome] += 1
    finally:
        await conn.close()


@app.timer(interval=0.5)
async def report() -> None:
    data = {**_progress, "at": time.time()}
    tmp = STATS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(STATS)


async def handle(  # noqa: PLR0917 -- the fields of one Kafka record
    conn: asyncpg.Connection,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
) -> str:
    now = datetime.now(UTC)
    role = ROLES[topic]
    try:
        decoded = decode_record(key=key, value=value, headers=headers, topic_role=role)
    except DecodeError as error:
        await _malformed(conn, topic, partition, offset, key, value, headers, error, now)
        return "malformed"
    event = decoded.event
    async with conn.transaction():
        if await conn.fetchval(
            "SELECT 1 FROM processed_events WHERE source = $1 AND event_id = $2",
            event.source,
            event.id,
        ):
            return "duplicate"
        text = await conn.fetchval(
            "SELECT view FROM orders WHERE shop_id = $1 AND order_id = $2 FOR UPDATE",
            event.shopid,
            event.orderid,
        )
        before = OrderView.model_validate_json(text) if text is not None else None
        original = RejectedOriginal(
            topic=topic,
            partition=partition,
            offset=offset,
            key=event.key,
            value=event.model_dump_json(exclude_none=True),
            event_id=event.id,
            event_type=event.type,
        )
        outcome = await _apply(conn, event, decoded.change, role, before, original, now)
        await conn.execute(
            "INSERT INTO processed_events (source, event_id, shop_id, order_id, outcome, "
            "processed_at) VALUES ($1, $2, $3, $4, $5, $6)",
            event.source,
            event.id,
            event.shopid,
            event.orderid,
            outcome,
            now,
        )
    return outcome


async def _apply(  # noqa: PLR0917
    conn: asyncpg.Connection,
    event: CloudEvent,
    change: Change,
    role: TopicRole,
    before: OrderView | None,
    original: RejectedOriginal,
    now: datetime,
    *,
    unpark: bool = True,
) -> str:
    decision = decide(before, change, POLICIES.for_shop(event.shopid), now)
    if isinstance(decision, Rejected):
        await conn.execute(
            _INSERT_REJECTED,
            event.shopid,
            event.orderid,
            event.source,
            event.id,
            event.type,
            decision.reason.value,
            decision.message,
            original.model_dump_json(),
            now,
        )
        await _outbox(
            conn,
            rejection_row(
                shop_id=event.shopid,
                order_id=event.orderid,
                reason=decision.reason,
                message=decision.message,
                original=original,
                identity=(event.source, event.id),
                now=now,
            ),
            now,
        )
        return "rejected"
    if isinstance(decision, Parked):
        # The deadline in ms, as parked_events keeps it since migration 5 (the worker's is on
        # the log's clock; the baseline's stays on the wall clock it decides with).
        await conn.execute(
            "INSERT INTO parked_events (source, event_id, shop_id, order_id, topic_role, event, "
            "parked_at, due_ms) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
            event.source,
            event.id,
            event.shopid,
            event.orderid,
            role.value,
            event.model_dump_json(exclude_none=True),
            now,
            int(decision.expires_at.timestamp() * 1000),
        )
        return "parked"
    assert isinstance(decision, Accepted)  # noqa: S101 -- decide returns one of three
    if decision.effect is Effect.DUPLICATE:
        return "duplicate"
    view = decision.new_view
    await conn.execute(
        _UPSERT_ORDER,
        view.shop_id,
        view.order_id,
        view.fields.order_url,
        view.fields.order_date,
        view.fields.language,
        view.fields.promised_delivery_date,
        json.dumps(view.tags, ensure_ascii=False),
        view.boarding_complete,
        str(view.state),
        view.payment_evidence,
        view.version,
        view.deleted,
        view.created_at,
        view.updated_at,
        view.model_dump_json(),
    )
    for row in fact_rows(decision, cause=event, now=now, first_sequence=view.version):
        await _outbox(conn, row, now)
    if unpark and (before is None or before.deleted):
        await _unpark(conn, view, now)
    return "late" if decision.effect is Effect.LATE else "applied"


async def _unpark(conn: asyncpg.Connection, view: OrderView, now: datetime) -> None:
    """The order arrived: apply the shipment events parked for it, in the order they came."""
    parked = await conn.fetch(
        "SELECT source, event_id, topic_role, event::text AS event FROM parked_events "
        "WHERE shop_id = $1 AND order_id = $2 ORDER BY parked_at, event_id",
        view.shop_id,
        view.order_id,
    )
    for row in parked:
        event = CloudEvent.model_validate_json(row["event"])
        role = TopicRole(row["topic_role"])
        change = decode_event(event, role).change
        original = RejectedOriginal(
            key=event.key, value=row["event"], event_id=event.id, event_type=event.type
        )
        await _apply(conn, event, change, role, view, original, now, unpark=False)
        text = await conn.fetchval(
            "SELECT view FROM orders WHERE shop_id = $1 AND order_id = $2",
            view.shop_id,
            view.order_id,
        )
        view = OrderView.model_validate_json(text)
        await conn.execute(
            "DELETE FROM parked_events WHERE source = $1 AND event_id = $2",
            row["source"],
            row["event_id"],
        )


async def _outbox(conn: asyncpg.Connection, row: OutboxRow, now: datetime) -> None:
    await conn.execute(
        _INSERT_OUTBOX,
        str(row.topic_role),
        row.lane,
        row.shop_id,
        row.order_id,
        row.event_id,
        row.event_json,
        now,
    )


async def _malformed(  # noqa: PLR0917
    conn: asyncpg.Connection,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    error: DecodeError,
    now: datetime,
) -> None:
    header_map = {name: raw.decode("utf-8", "replace") for name, raw in headers}
    key_text = key.decode("utf-8", "replace") if key is not None else None
    shop_id, _, order_id = (key_text or "unknown:unknown").partition(":")
    original = RejectedOriginal(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key_text,
        headers=header_map,
        value=value.decode("utf-8", "replace") if value is not None else None,
        event_id=header_map.get("ce_id"),
        event_type=header_map.get("ce_type"),
    )
    async with conn.transaction():
        await conn.execute(
            _INSERT_REJECTED,
            shop_id,
            order_id,
            None,
            original.event_id,
            original.event_type,
            "malformed",
            error.message,
            original.model_dump_json(),
            now,
        )
        await _outbox(
            conn,
            rejection_row(
                shop_id=shop_id,
                order_id=order_id,
                reason=error.reason,
                message=error.message,
                original=original,
                identity=(f"kafka:{topic}", f"{partition}:{offset}"),
                now=now,
            ),
            now,
        )


if __name__ == "__main__":
    app.main()
