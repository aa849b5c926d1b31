"""``orderstate redrive``: select kept rejections, predict what deciding them again does, and
append them to the inbound topics for the worker to decide (docs/redrive.md).

Nothing here writes to PostgreSQL: the worker decides the appended events like any other
record, so a replay of the topics (``orderstate rebuild``) decides them too.
"""

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from orderstate.domain import OrderState, OrderView, PolicyBook, ReasonCode
from orderstate.events.envelope import encode_binary
from orderstate.kafka_client import kafka_options
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query
from orderstate.projector.stored_views import load_views
from orderstate.repair.redrive_plan import (
    Candidate,
    Excluded,
    Exclusion,
    Redrive,
    plan_redrives,
)
from orderstate.repair.replay import Outcome, Step, replay_order
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client

__all__ = [
    "OrderResult",
    "PublishError",
    "Selection",
    "decided",
    "order_states",
    "predict",
    "publish",
    "select",
    "wait_decided",
]

_INFLIGHT = 500


@dataclass(frozen=True, slots=True)
class Selection:
    shops: Sequence[str] = ()
    reasons: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    expired_only: bool = False
    include_api: bool = False


@dataclass(slots=True)
class OrderResult:
    """One order's redriven events with their outcome (predicted or decided), and its state
    before and after."""

    key: tuple[str, str]
    before: OrderState | None
    after: OrderState | None = None
    events: list[tuple[Redrive, Outcome | None]] = field(default_factory=list)


class PublishError(RuntimeError):
    pass


async def select(conn: Conn, selection: Selection) -> tuple[list[Redrive], list[Excluded]]:
    """The rejections to redrive, in the order to append them, and those left out."""
    rows = await conn.fetch(
        query("redrive_candidates"),
        list(selection.shops),
        list(selection.reasons),
        selection.since,
        selection.until,
    )
    candidates = [
        Candidate(
            rejection_id=r["id"],
            shop_id=r["shop_id"],
            order_id=r["order_id"],
            source=r["source"],
            event_id=r["event_id"],
            reason=r["reason"],
            original_json=r["original"],
            rejected_at=r["rejected_at"],
            expired=r["expired"],
        )
        for r in rows
        if r["expired"] or not selection.expired_only
    ]
    redrives, excluded = plan_redrives(candidates, include_api=selection.include_api)
    done = await decided(conn, redrives)
    keep = []
    for redrive in redrives:
        if (redrive.event.source, redrive.event.id) in done:
            excluded.append(Excluded(redrive.candidate, Exclusion.REDRIVEN, redrive.event.id))
        else:
            keep.append(redrive)
    return keep, excluded


async def decided(conn: Conn, redrives: Sequence[Redrive]) -> dict[tuple[str, str], Outcome]:
    """What the worker decided for these redriven events, by (source, id); undecided ones
    are missing."""
    if not redrives:
        return {}
    events = [r.event for r in redrives]
    rows = await conn.fetch(
        query("redrive_outcomes"),
        [e.source for e in events],
        [e.id for e in events],
        [e.shopid for e in events],
        [e.orderid for e in events],
    )
    return {
        (r["source"], r["event_id"]): Outcome(
            kind=r["outcome"] or "rejected",
            reason=ReasonCode(r["reason"]) if r["reason"] is not None else None,
        )
        for r in rows
    }


async def order_states(
    conn: Conn, keys: Sequence[tuple[str, str]], redrives: Sequence[Redrive] = ()
) -> dict[tuple[str, str], OrderView]:
    """The current views of these orders (deleted ones included), ready to decide the
    ``redrives`` on."""
    return await load_views(conn, keys, [r.change for r in redrives])


def predict(
    redrives: Sequence[Redrive],
    views: dict[tuple[str, str], OrderView],
    policies: PolicyBook,
    now: datetime,
) -> list[OrderResult]:
    """Each order's redriven events decided in turn from its current view under the policy,
    as the worker will decide them (orders in the order of their first redriven event)."""
    results: dict[tuple[str, str], OrderResult] = {}
    by_order: dict[tuple[str, str], list[Redrive]] = defaultdict(list)
    for redrive in redrives:
        by_order[redrive.key].append(redrive)
    for key, items in by_order.items():
        view = views.get(key)
        outcomes, after = replay_order(
            view, [Step(r.change, now) for r in items], policies.for_shop(key[0])
        )
        result = OrderResult(key, _state(view), _state(after))
        result.events = list(zip(items, outcomes, strict=True))
        results[key] = result
    return list(results.values())


async def publish(
    settings: Settings, redrives: Sequence[Redrive], advance: Callable[[int], Any]
) -> None:
    """Append the events to their inbound topics, in order, keyed by their order (so each
    lands in its order's partition); return once the broker acknowledged all of them."""
    producer = AIOKafkaProducer(
        **kafka_options(settings, role="redrive"),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )
    await start_kafka_client(producer, settings, "redrive", quiet=True)
    try:
        inflight: list[asyncio.Future[Any]] = []
        for redrive in redrives:
            headers, value = encode_binary(redrive.event)
            inflight.append(
                await producer.send(
                    settings.topic_name(redrive.topic_role),
                    key=redrive.event.key.encode(),
                    value=value,
                    headers=headers,
                )
            )
            if len(inflight) >= _INFLIGHT:
                await asyncio.gather(*inflight)
                advance(len(inflight))
                inflight.clear()
        await asyncio.gather(*inflight)
        advance(len(inflight))
    except KafkaError as exc:
        raise PublishError(f"publishing to Kafka failed: {exc}") from exc
    finally:
        await producer.stop()


async def wait_decided(
    conn: Conn,
    redrives: Sequence[Redrive],
    timeout_s: float,
    progress: Callable[[int], Any],
) -> dict[tuple[str, str], Outcome]:
    """Poll until the worker decided every redriven event, or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await decided(conn, redrives)
        progress(len(found))
        if len(found) >= len(redrives) or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.25)


def _state(view: OrderView | None) -> OrderState | None:
    return None if view is None or view.deleted else view.state
