"""``apply_batch``: the single write path for Kafka batches and REST requests.

One transaction per batch: lock every order the batch touches (sorted, so
writers cannot deadlock), skip events applied before, load the views, run
``decide`` per event in order, and write views, items, shipments, history,
parked and rejected rows, outbox rows and the next Kafka offsets with one
statement per table. A deadlock or serialization failure retries the batch.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import partial
from hashlib import sha256

import asyncpg
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from orderstate.domain import (
    Accepted,
    Change,
    Decision,
    Effect,
    OrderView,
    Parked,
    PolicyBook,
    ReasonCode,
    Rejected,
    decide,
)
from orderstate.events.decode import decode_event
from orderstate.events.envelope import CloudEvent
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.projector.connection import Conn
from orderstate.projector.inputs import Incoming, Malformed
from orderstate.projector.outbox_rows import fact_rows, log_row
from orderstate.projector.queries import query
from orderstate.projector.writes import BatchWrites, ParkedRow, ProcessedRow

__all__ = ["BatchResult", "Outcome", "OutcomeKind", "apply_batch"]

_RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class OutcomeKind(StrEnum):
    APPLIED = "applied"
    LATE = "late"
    # The event was applied before (same source and id), or changed nothing (rule 3).
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    PARKED = "parked"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    view: OrderView | None = None
    reason: ReasonCode | None = None
    message: str | None = None


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    # Parked events applied because their order arrived in this batch.
    unparked: int = 0
    counts: Counter[str] = field(default_factory=Counter)


async def apply_batch(
    conn: Conn,
    inputs: Sequence[Incoming | Malformed],
    *,
    policies: PolicyBook,
    now: datetime,
    consumer_group: str | None = None,
) -> BatchResult:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(_RETRIED),
        stop=stop_after_attempt(5),
        wait=wait_random_exponential(multiplier=0.01, max=0.5),
        reraise=True,
    ):
        with attempt:
            async with conn.transaction():
                return await _Batch(conn, policies, now).run(inputs, consumer_group)
    raise AssertionError("unreachable: tenacity reraises the last error")


@dataclass(frozen=True, slots=True)
class _ParkedEntry:
    source: str
    event_id: str
    topic_role: TopicRole
    event_json: str
    # Parked by this batch and not yet written: dropping it from the writes is enough.
    pending: ParkedRow | None = None


class _Batch:
    def __init__(self, conn: Conn, policies: PolicyBook, now: datetime) -> None:
        self.conn = conn
        self.policies = policies
        self.now = now
        self.views: dict[tuple[str, str], OrderView] = {}
        self.parked: dict[tuple[str, str], list[_ParkedEntry]] = defaultdict(list)
        self.writes = BatchWrites()
        self.unparked = 0

    async def run(
        self, inputs: Sequence[Incoming | Malformed], consumer_group: str | None
    ) -> BatchResult:
        decoded = [i for i in inputs if isinstance(i, Incoming)]
        processed = await self._prepare(decoded)
        seen: set[tuple[str, str]] = set()
        outcomes = []
        for item in inputs:
            self.writes.advance(item.position)
            if isinstance(item, Malformed):
                outcomes.append(self._malformed(item))
            elif item.ident in processed or item.ident in seen:
                outcomes.append(Outcome(OutcomeKind.DUPLICATE, self.views.get(item.key)))
            else:
                seen.add(item.ident)
                outcomes.append(self._one(item))
        await self.writes.flush(self.conn, now=self.now, consumer_group=consumer_group)
        result = BatchResult(outcomes=outcomes, unparked=self.unparked)
        result.counts.update(o.kind.value for o in outcomes)
        return result

    async def _prepare(self, decoded: list[Incoming]) -> set[tuple[str, str]]:
        keys = sorted({i.key for i in decoded})
        if not keys:
            return set()
        await self.conn.execute(query("lock_orders"), [f"{s}:{o}" for s, o in keys])
        idents = sorted({i.ident for i in decoded})
        rows = await self.conn.fetch(
            query("processed_among"), [s for s, _ in idents], [e for _, e in idents]
        )
        shops, orders = [s for s, _ in keys], [o for _, o in keys]
        for (text,) in await self.conn.fetch(query("load_views"), shops, orders):
            view = OrderView.model_validate_json(text)
            self.views[(view.shop_id, view.order_id)] = view
        self.writes.loaded = dict(self.views)
        for r in await self.conn.fetch(query("load_parked"), shops, orders):
            self.parked[(r["shop_id"], r["order_id"])].append(
                _ParkedEntry(r["source"], r["event_id"], TopicRole(r["topic_role"]), r["event"])
            )
        return {(r["source"], r["event_id"]) for r in rows}

    def _one(self, item: Incoming) -> Outcome:
        event, change = item.decoded.event, item.decoded.change
        outcome = self._decide(event, change, item.topic_role, original=lambda: _original(item))
        if outcome.kind is OutcomeKind.REJECTED and item.append_to_log:
            # A REST caller gets the rejection in its response; nothing of it is kept.
            return outcome
        self.writes.processed.append(
            ProcessedRow(event.source, event.id, event.shopid, event.orderid, outcome.kind.value)
        )
        if item.append_to_log and outcome.kind in (OutcomeKind.APPLIED, OutcomeKind.LATE):
            self.writes.outbox.append(log_row(event, item.topic_role))
        return outcome

    def _decide(
        self,
        event: CloudEvent,
        change: Change,
        role: TopicRole,
        *,
        original: Callable[[], RejectedOriginal],
    ) -> Outcome:
        key = (event.shopid, event.orderid)
        before = self.views.get(key)
        policy = self.policies.for_shop(event.shopid)
        decision: Decision = decide(before, change, policy, self.now)
        if isinstance(decision, Rejected):
            self._reject(event, decision.reason, decision.message, original())
            return Outcome(OutcomeKind.REJECTED, before, decision.reason, decision.message)
        if isinstance(decision, Parked):
            self._park(event, role, decision)
            return Outcome(OutcomeKind.PARKED, None, None, decision.message)
        if decision.effect is Effect.DUPLICATE:
            return Outcome(OutcomeKind.DUPLICATE, before)
        return self._accept(event, decision, created=before is None or before.deleted)

    def _accept(self, event: CloudEvent, decision: Accepted, *, created: bool) -> Outcome:
        view = decision.new_view
        key = (view.shop_id, view.order_id)
        self.views[key] = self.writes.changed[key] = view
        self.writes.outbox.extend(fact_rows(decision, cause=event, now=self.now))
        kind = OutcomeKind.LATE if decision.effect is Effect.LATE else OutcomeKind.APPLIED
        if created and key in self.parked:
            self._unpark(key)
        return Outcome(kind, self.views[key])

    def _park(self, event: CloudEvent, role: TopicRole, decision: Parked) -> None:
        row = ParkedRow(
            source=event.source,
            event_id=event.id,
            shop_id=event.shopid,
            order_id=event.orderid,
            topic_role=role.value,
            event_json=event.model_dump_json(exclude_none=True),
            expires_at=decision.expires_at,
        )
        self.writes.parked.append(row)
        self.parked[(event.shopid, event.orderid)].append(
            _ParkedEntry(row.source, row.event_id, role, row.event_json, pending=row)
        )

    def _unpark(self, key: tuple[str, str]) -> None:
        """The order arrived: apply its parked shipment events now, in the order they came."""
        for entry in self.parked.pop(key):
            if entry.pending is not None:
                self.writes.parked.remove(entry.pending)
            else:
                self.writes.unparked.append((entry.source, entry.event_id))
            event = CloudEvent.model_validate_json(entry.event_json)
            change = decode_event(event, entry.topic_role).change
            self._decide(
                event, change, entry.topic_role, original=partial(_parked_original, event, entry)
            )
            self.unparked += 1

    def _reject(
        self, event: CloudEvent, reason: ReasonCode, message: str, original: RejectedOriginal
    ) -> None:
        self.writes.reject(
            shop_id=event.shopid,
            order_id=event.orderid,
            reason=reason,
            message=message,
            original=original,
            identity=(event.source, event.id),
            source=event.source,
            now=self.now,
        )

    def _malformed(self, item: Malformed) -> Outcome:
        shop_id, order_id = item.key
        position = item.position
        identity = (
            (f"kafka:{position.topic}", f"{position.partition}:{position.offset}")
            if position is not None
            else (
                "orderstate",
                "malformed:" + sha256((item.original.value or "").encode()).hexdigest(),
            )
        )
        self.writes.reject(
            shop_id=shop_id,
            order_id=order_id,
            reason=ReasonCode.MALFORMED,
            message=item.error.message,
            original=item.original,
            identity=identity,
            source=None,
            now=self.now,
        )
        return Outcome(OutcomeKind.MALFORMED, None, ReasonCode.MALFORMED, item.error.message)


def _original(item: Incoming) -> RejectedOriginal:
    event = item.decoded.event
    position = item.position
    return RejectedOriginal(
        topic=position.topic if position else None,
        partition=position.partition if position else None,
        offset=position.offset if position else None,
        key=event.key,
        value=event.model_dump_json(exclude_none=True),
        event_id=event.id,
        event_type=event.type,
    )


def _parked_original(event: CloudEvent, entry: _ParkedEntry) -> RejectedOriginal:
    return RejectedOriginal(
        key=event.key,
        value=entry.event_json,
        event_id=event.id,
        event_type=event.type,
    )
