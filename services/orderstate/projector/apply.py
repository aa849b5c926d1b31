"""``apply_batch``: the single write path for Kafka batches and REST requests.

One transaction per batch: lock every order the batch touches (sorted, so writers cannot
deadlock), then read in one statement the events applied before, the views and the parked
events (projector/batch_reads.py), run ``decide`` per event in order, and write views,
items, shipments, history, parked and rejected rows, outbox rows and the next Kafka offsets
in one statement (projector/writes.py). A deadlock or serialization failure retries the batch.

Inputs from Kafka come in the merged order of their partition pair (worker/merge.py), each
with its position and the pair's log clock there. Parked events expire when that clock
passes their deadline, at the same input in every replay. Nothing here reads a clock:
``now`` is only written down (recorded_at, updated_at), never decided on.
"""

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import partial
from hashlib import sha256
from typing import NamedTuple

import asyncpg
import structlog
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from orderstate import metrics
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
    history_summary,
    reject_expired_parked,
)
from orderstate.events.decode import decode_event
from orderstate.events.envelope import API_SOURCE, CloudEvent
from orderstate.events.outbound import RejectedOriginal, outbound_type
from orderstate.events.topics import TopicRole
from orderstate.projector.batch_reads import ParkedRecord, lock_batch_orders, read_batch
from orderstate.projector.connection import Conn
from orderstate.projector.inputs import Incoming, Input, Malformed, Passed, Position
from orderstate.projector.outbox_rows import OutboxRow, fact_rows, log_row
from orderstate.projector.stored_views import parse_view, with_histories, with_moments
from orderstate.projector.writes import BatchWrites, LogRow, ParkedRow, ProcessedRow

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "BatchResult",
    "Outcome",
    "OutcomeKind",
    "apply_batch",
    "malformed_identity",
]

log = structlog.get_logger("orderstate.projector")

_RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
# Below Kafka's default message.max.bytes (1 MiB) with room for the key and headers.
DEFAULT_MAX_EVENT_BYTES = 1_000_000
# What a rejection keeps of the event it rejects, so the rejection itself stays publishable.
_MAX_KEPT_ORIGINAL = 64 * 1024


class OutcomeKind(StrEnum):
    APPLIED = "applied"
    LATE = "late"
    # The event was applied before (same source and id), or changed nothing (rule 3).
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    PARKED = "parked"
    MALFORMED = "malformed"
    # A merge marker, or a record that was copied to the partition its key maps to.
    PASSED = "passed"


class Outcome(NamedTuple):
    kind: OutcomeKind
    view: OrderView | None = None
    reason: ReasonCode | None = None
    message: str | None = None


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    # Parked events applied because their order arrived in this batch.
    unparked: int = 0
    # Parked events rejected because their pair's log clock passed their deadline.
    expired: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def merged_with(self, other: "BatchResult") -> "BatchResult":
        merged = BatchResult(
            outcomes=self.outcomes + other.outcomes,
            unparked=self.unparked + other.unparked,
            expired=self.expired + other.expired,
        )
        merged.counts.update(self.counts + other.counts)
        return merged


async def apply_batch(
    conn: Conn,
    inputs: Sequence[Input],
    *,
    policies: PolicyBook,
    now: datetime,
    consumer_group: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> BatchResult:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(_RETRIED),
        stop=stop_after_attempt(5),
        wait=wait_random_exponential(multiplier=0.01, max=0.5),
        reraise=True,
    ):
        with attempt:
            async with conn.transaction():
                batch = _Batch(conn, policies, now, max_event_bytes)
                return await batch.run(inputs, consumer_group)
    raise AssertionError("unreachable: tenacity reraises the last error")


def malformed_identity(item: Malformed) -> tuple[str, str]:
    """A malformed record has no trustworthy id: its place in the log is its identity, so a
    redelivered record is rejected once, with one event id."""
    p = item.position
    if p is not None:
        return (f"kafka:{p.topic}", f"{p.partition}:{p.offset}")
    digest = sha256((item.original.value or "").encode()).hexdigest()
    return ("orderstate", f"malformed:{digest}")


@dataclass(slots=True)
class _ParkedEntry:
    record: ParkedRecord
    # Parked by this batch and not yet written: dropping it from the writes is enough.
    pending: ParkedRow | None = None
    done: bool = False


class _Batch:
    def __init__(
        self, conn: Conn, policies: PolicyBook, now: datetime, max_event_bytes: int
    ) -> None:
        self.conn = conn
        self.policies = policies
        self.now = now
        self.max_event_bytes = max_event_bytes
        self.views: dict[tuple[str, str], OrderView] = {}
        self.sequences: dict[tuple[str, str], int] = {}
        # Orders whose stored view no longer validates: their events are rejected, the view
        # is left as it is for an operator to look at.
        self.broken: set[tuple[str, str]] = set()
        self.parked: dict[tuple[str, str], list[_ParkedEntry]] = defaultdict(list)
        # Per pair, parked entries by deadline: (due_ms, tiebreak, entry).
        self.deadlines: dict[int, list[tuple[int, int, _ParkedEntry]]] = defaultdict(list)
        self.writes = BatchWrites()
        self.unparked = 0
        self.expired = 0

    async def run(self, inputs: Sequence[Input], consumer_group: str | None) -> BatchResult:
        processed = await self._prepare(inputs)
        seen: set[tuple[str, str]] = set()
        outcomes = []
        for item in inputs:
            position = item.position
            if position is not None:
                self.writes.advance(position)
                self._expire_due(position)
            if isinstance(item, Passed):
                outcomes.append(Outcome(OutcomeKind.PASSED))
                continue
            ident = malformed_identity(item) if isinstance(item, Malformed) else item.ident
            if ident in processed or ident in seen:
                view = self.views.get(item.key) if isinstance(item, Incoming) else None
                outcomes.append(Outcome(OutcomeKind.DUPLICATE, view))
                continue
            seen.add(ident)
            if isinstance(item, Malformed):
                outcomes.append(self._malformed(item, ident))
            else:
                outcomes.append(self._one(item))
        await self.writes.flush(self.conn, now=self.now, consumer_group=consumer_group)
        result = BatchResult(outcomes=outcomes, unparked=self.unparked, expired=self.expired)
        result.counts.update(o.kind.value for o in outcomes)
        return result

    async def _prepare(self, inputs: Sequence[Input]) -> set[tuple[str, str]]:
        decoded = [i for i in inputs if isinstance(i, Incoming)]
        idents = {i.ident for i in decoded}
        idents.update(malformed_identity(i) for i in inputs if isinstance(i, Malformed))
        keys = {i.key for i in decoded}
        # Parked events whose deadline this batch's log clocks pass: their orders are locked
        # too, because expiring one writes to its order's rejections.
        until: dict[int, int] = {}
        for item in inputs:
            p = item.position
            if p is not None:
                until[p.partition] = max(until.get(p.partition, p.clock_ms), p.clock_ms)
        if keys or until:
            keys.update(await lock_batch_orders(self.conn, sorted(keys), until))
        if not keys and not idents:
            return set()
        reads = await read_batch(self.conn, idents, keys, (i.decoded.change for i in decoded))
        with_history = self.writes.with_history = reads.forms.views_with_history
        self.writes.outbox_by_reference = reads.forms.outbox_by_reference
        for key, stored in reads.views.items():
            self.sequences[key] = stored.last_sequence
            try:
                view = parse_view(stored.text, keep_entries=with_history)
                self.views[key] = with_moments(view, reads.moments.get(key, ()))
            except ValidationError as exc:
                self.broken.add(key)
                log.error(
                    "stored_view_invalid", shop_id=key[0], order_id=key[1], error=str(exc)[:500]
                )
        if with_history:
            await self._load_entries()
        self.writes.loaded = dict(self.views)
        for record in reads.parked:
            self._hold(_ParkedEntry(record))
        return reads.processed

    async def _load_entries(self) -> None:
        """Views stored in the summary form get their entries, to be stored with them."""
        short = [v for v in self.views.values() if len(v.history) < v.history_length]
        for v in await with_histories(self.conn, short):
            moments = v.moments | history_summary(v.history)["moments"]
            self.views[(v.shop_id, v.order_id)] = v.evolve(moments=moments)

    def _hold(self, entry: _ParkedEntry) -> None:
        self.parked[(entry.record.shop_id, entry.record.order_id)].append(entry)
        if entry.record.pair is not None:
            heap = self.deadlines[entry.record.pair]
            heapq.heappush(heap, (entry.record.due_ms, id(entry), entry))

    # -- one event -------------------------------------------------------------------------

    def _one(self, item: Incoming) -> Outcome:
        event, change = item.decoded.event, item.decoded.change
        from_api = item.append_to_log
        if item.key in self.broken:
            outcome = self._internal_error(
                event,
                lambda: _original(item),
                "the stored view of this order no longer validates; nothing was applied",
            )
        else:
            try:
                outcome = self._decide(
                    event,
                    change,
                    item.topic_role,
                    original=lambda: _original(item),
                    position=item.position,
                    from_api=from_api,
                )
            except Exception as exc:  # a bug must cost one event, not the worker
                log.exception("event_processing_failed", event_id=event.id)
                outcome = self._internal_error(
                    event, lambda: _original(item), f"{type(exc).__name__} while deciding"
                )
        self.writes.processed[item.ident] = ProcessedRow(
            event.source, event.id, event.shopid, event.orderid, outcome.kind.value
        )
        if from_api:
            # Every REST change that reached the state machine goes to the inbound topic, with
            # its outcome decided: a replay of the topics decides it again, rejections too.
            self.writes.outbox.append(log_row(event, item.topic_role))
        return outcome

    def _decide(
        self,
        event: CloudEvent,
        change: Change,
        role: TopicRole,
        *,
        original: Callable[[], RejectedOriginal],
        position: Position | None,
        from_api: bool = False,
    ) -> Outcome:
        key = (event.shopid, event.orderid)
        before = self.views.get(key)
        policy = self.policies.for_shop(event.shopid)
        decision: Decision = decide(before, change, policy, self.now)
        if isinstance(decision, Parked) and (from_api or position is None):
            # A REST caller gets its answer now; waiting for the order is for the log.
            decision = Rejected(
                reason=ReasonCode.UNKNOWN_ORDER,
                message=f"Order {change.order_id} of shop {change.shop_id} does not exist; "
                "create it before linking shipments to it.",
            )
        if isinstance(decision, Rejected):
            self._reject(event, decision.reason, decision.message, original())
            return Outcome(OutcomeKind.REJECTED, before, decision.reason, decision.message)
        if isinstance(decision, Parked):
            assert position is not None  # noqa: S101 -- checked above
            self._park(event, role, position, policy.park_ttl.total_seconds())
            return Outcome(OutcomeKind.PARKED, None, None, decision.message)
        if decision.effect is Effect.DUPLICATE:
            return Outcome(OutcomeKind.DUPLICATE, before)
        rows = fact_rows(
            decision, cause=event, now=self.now, first_sequence=self.sequences.get(key, 0) + 1
        )
        too_large = next((r for r in rows if _too_large(r, self.max_event_bytes)), None)
        if too_large is not None:
            message = (
                f"Order {change.order_id} would be too large to publish: its event would be "
                f"{len(too_large.event_json.encode())} bytes, over the limit of "
                f"{self.max_event_bytes}; split the order or send fewer items or tags."
            )
            self._reject(event, ReasonCode.ORDER_TOO_LARGE, message, original())
            return Outcome(OutcomeKind.REJECTED, before, ReasonCode.ORDER_TOO_LARGE, message)
        return self._accept(event, decision, rows, created=before is None or before.deleted)

    def _accept(
        self, event: CloudEvent, decision: Accepted, rows: list[OutboxRow], *, created: bool
    ) -> Outcome:
        view = decision.new_view
        key = (view.shop_id, view.order_id)
        first = self.sequences.get(key, 0) + 1
        self.views[key] = self.writes.changed[key] = view
        self.sequences[key] = self.writes.sequences[key] = first - 1 + len(rows)
        self.writes.outbox.extend(rows)
        self.writes.log.extend(
            LogRow(
                view.shop_id,
                view.order_id,
                first + index,
                row.event_id,
                outbound_type(fact),
                row.event_json,
                view.history_length,
            )
            for index, (row, fact) in enumerate(zip(rows, decision.emitted, strict=True))
        )
        kind = OutcomeKind.LATE if decision.effect is Effect.LATE else OutcomeKind.APPLIED
        if created and key in self.parked:
            self._unpark(key)
        return Outcome(kind, self.views[key])

    # -- parking ---------------------------------------------------------------------------

    def _park(self, event: CloudEvent, role: TopicRole, position: Position, ttl_s: float) -> None:
        record = ParkedRecord(
            source=event.source,
            event_id=event.id,
            shop_id=event.shopid,
            order_id=event.orderid,
            topic_role=role,
            event_json=event.model_dump_json(exclude_none=True),
            pair=position.partition,
            due_ms=position.clock_ms + int(ttl_s * 1000),
        )
        row = ParkedRow(record, source_topic=position.topic, source_offset=position.offset)
        self.writes.parked.append(row)
        self._hold(_ParkedEntry(record, pending=row))

    def _unpark(self, key: tuple[str, str]) -> None:
        """The order arrived: apply its parked shipment events now, in the order they came."""
        for entry in self.parked.pop(key):
            if entry.done:
                continue
            self._resolve(entry)
            try:
                event = CloudEvent.model_validate_json(entry.record.event_json)
                change = decode_event(event, entry.record.topic_role).change
                outcome = self._decide(
                    event,
                    change,
                    entry.record.topic_role,
                    original=partial(_parked_original, event, entry.record),
                    position=None,
                )
            except Exception as exc:  # a parked event that no longer decodes costs itself only
                log.exception("parked_event_failed", event_id=entry.record.event_id)
                outcome = self._internal_error_parked(entry.record, exc)
            self._record_parked_outcome(entry, f"parked_then_{outcome.kind.value}")
            self.unparked += 1

    def _expire_due(self, position: Position) -> None:
        """Reject the parked events of this pair whose deadline its log clock has now passed."""
        heap = self.deadlines.get(position.partition)
        while heap and heap[0][0] <= position.clock_ms:
            _, _, entry = heapq.heappop(heap)
            if entry.done:
                continue
            self._resolve(entry)
            self.parked[(entry.record.shop_id, entry.record.order_id)].remove(entry)
            try:
                event = CloudEvent.model_validate_json(entry.record.event_json)
                change = decode_event(event, entry.record.topic_role).change
            except Exception as exc:
                log.exception("parked_event_failed", event_id=entry.record.event_id)
                self._internal_error_parked(entry.record, exc)
            else:
                verdict = reject_expired_parked(change, self.policies.for_shop(event.shopid))
                self._reject(
                    event, verdict.reason, verdict.message, _parked_original(event, entry.record)
                )
            self._record_parked_outcome(entry, "parked_then_expired")
            metrics.PARKED_EXPIRED.inc()
            self.expired += 1

    def _resolve(self, entry: _ParkedEntry) -> None:
        entry.done = True
        if entry.pending is not None:
            self.writes.parked.remove(entry.pending)
        else:
            self.writes.unparked.append(entry.record.ident)

    def _record_parked_outcome(self, entry: _ParkedEntry, outcome: str) -> None:
        ident = entry.record.ident
        pending = self.writes.processed.get(ident)
        if pending is not None:
            self.writes.processed[ident] = ProcessedRow(
                pending.source, pending.event_id, pending.shop_id, pending.order_id, outcome
            )
        else:
            self.writes.processed_updates.append((*ident, outcome))

    # -- rejections ------------------------------------------------------------------------

    def _internal_error(
        self, event: CloudEvent, original: Callable[[], RejectedOriginal], detail: str
    ) -> Outcome:
        metrics.INTERNAL_ERRORS.inc()
        message = f"orderstate could not process this event ({detail}); it was set aside."
        self._reject(event, ReasonCode.INTERNAL_ERROR, message, original())
        return Outcome(OutcomeKind.REJECTED, None, ReasonCode.INTERNAL_ERROR, message)

    def _internal_error_parked(self, record: ParkedRecord, exc: Exception) -> Outcome:
        metrics.INTERNAL_ERRORS.inc()
        message = (
            f"orderstate could not process this parked event ({type(exc).__name__}); "
            "it was set aside."
        )
        original = RejectedOriginal(
            key=f"{record.shop_id}:{record.order_id}",
            value=record.event_json[:_MAX_KEPT_ORIGINAL],
            event_id=record.event_id,
        )
        self.writes.reject(
            shop_id=record.shop_id,
            order_id=record.order_id,
            reason=ReasonCode.INTERNAL_ERROR,
            message=message,
            original=original,
            identity=record.ident,
            source=record.source,
            now=self.now,
        )
        return Outcome(OutcomeKind.REJECTED, None, ReasonCode.INTERNAL_ERROR, message)

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

    def _malformed(self, item: Malformed, identity: tuple[str, str]) -> Outcome:
        shop_id, order_id = item.key
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
        self.writes.processed[identity] = ProcessedRow(
            identity[0], identity[1], shop_id, order_id, OutcomeKind.MALFORMED.value
        )
        return Outcome(OutcomeKind.MALFORMED, None, ReasonCode.MALFORMED, item.error.message)


def _too_large(row: OutboxRow, limit: int) -> bool:
    text = row.event_json
    # UTF-8 takes at most 4 bytes per character: most events need no encoding to know.
    return len(text) * 4 > limit and len(text.encode()) > limit


def _original(item: Incoming) -> RejectedOriginal:
    event = item.decoded.event
    # A REST change is decided before it reaches the log: its rejection names no log position,
    # live or in a replay, so both publish the same rejection.
    position = item.position if event.source != API_SOURCE else None
    value = event.model_dump_json(exclude_none=True)
    headers = {}
    if len(value) > _MAX_KEPT_ORIGINAL:
        headers["x-orderstate-truncated"] = f"value cut to {_MAX_KEPT_ORIGINAL} of {len(value)}"
        value = value[:_MAX_KEPT_ORIGINAL]
    return RejectedOriginal(
        topic=position.topic if position else None,
        partition=position.partition if position else None,
        offset=position.offset if position else None,
        key=event.key,
        headers=headers,
        value=value,
        event_id=event.id,
        event_type=event.type,
    )


def _parked_original(event: CloudEvent, record: ParkedRecord) -> RejectedOriginal:
    return RejectedOriginal(
        key=event.key,
        value=record.event_json[:_MAX_KEPT_ORIGINAL],
        event_id=event.id,
        event_type=event.type,
    )
