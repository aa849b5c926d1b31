"""Everything one batch writes, collected in memory and flushed in one statement."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from orderstate.domain import HistoryEntry, OrderView, ReasonCode
from orderstate.events.outbound import RejectedOriginal
from orderstate.projector.batch_reads import ParkedRecord
from orderstate.projector.connection import Conn
from orderstate.projector.inputs import Position
from orderstate.projector.outbox_rows import OutboxRow, rejection_row
from orderstate.projector.stored_views import offset_seconds, stored_form
from orderstate.projector.write_statement import write_statement

__all__ = ["BatchWrites", "LogRow", "ParkedRow", "ProcessedRow", "RejectedRow"]


class ProcessedRow(NamedTuple):
    source: str
    event_id: str
    shop_id: str
    order_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class RejectedRow:
    shop_id: str
    order_id: str
    source: str | None
    event_id: str | None
    event_type: str | None
    reason: str
    message: str
    original_json: str


@dataclass(frozen=True, slots=True)
class ParkedRow:
    """A parked event to insert, and the place in the log it came from."""

    record: ParkedRecord
    source_topic: str
    source_offset: int


class LogRow(NamedTuple):
    """One outbound order event for the order event log (README "Time and history")."""

    shop_id: str
    order_id: str
    sequence: int
    event_id: str
    type: str
    event_json: str
    # The order's states_history length after the change: an as_of read takes that many.
    history_len: int


def _columns(rows: list[Any], *names: str) -> list[list[Any]]:
    return [[getattr(r, n) for r in rows] for n in names]


@dataclass
class BatchWrites:
    # Views as loaded, to tell which parts of an order changed.
    loaded: dict[tuple[str, str], OrderView] = field(default_factory=dict)
    # Store views with their history entries (migration 0010); they were loaded with them.
    with_history: bool = False
    # Store order events' outbox rows without their text (migration 0012, write_forms.py).
    outbox_by_reference: bool = False
    # Final views of the orders the batch changed.
    changed: dict[tuple[str, str], OrderView] = field(default_factory=dict)
    # The last outbound sequence of every order the batch changed.
    sequences: dict[tuple[str, str], int] = field(default_factory=dict)
    # By (source, event id): a parked event resolved later in the same batch changes its row.
    processed: dict[tuple[str, str], ProcessedRow] = field(default_factory=dict)
    # Outcomes of events parked by an earlier batch and resolved now.
    processed_updates: list[tuple[str, str, str]] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    # The accepted changes' order events, kept for good in order_events.
    log: list[LogRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    parked: list[ParkedRow] = field(default_factory=list)
    unparked: list[tuple[str, str]] = field(default_factory=list)
    # (topic, partition) -> (next offset, merge time and log time after it)
    offsets: dict[tuple[str, int], tuple[int, int, int]] = field(default_factory=dict)

    def reject(
        self,
        *,
        shop_id: str,
        order_id: str,
        reason: ReasonCode,
        message: str,
        original: RejectedOriginal,
        identity: tuple[str, str],
        source: str | None,
        now: datetime,
    ) -> None:
        """Keep a rejection and publish it as ``event.rejected``."""
        self.rejected.append(
            RejectedRow(
                shop_id=shop_id,
                order_id=order_id,
                source=source,
                event_id=original.event_id,
                event_type=original.event_type,
                reason=reason.value,
                message=message,
                original_json=original.model_dump_json(),
            )
        )
        self.outbox.append(
            rejection_row(
                shop_id=shop_id,
                order_id=order_id,
                reason=reason,
                message=message,
                original=original,
                identity=identity,
                now=now,
            )
        )

    def advance(self, position: Position) -> None:
        self.offsets[(position.topic, position.partition)] = (
            position.offset + 1,
            position.time_ms,
            position.log_ms,
        )

    async def flush(self, conn: Conn, *, now: datetime, consumer_group: str | None) -> None:
        """Write everything in one statement: queries.sql's ``write_batch``, without the
        tables this batch does not write (write_statement.py)."""
        offsets = list(self.offsets) if consumer_group is not None else []
        processed = list(self.processed.values())
        if not (
            self.changed
            or self.processed_updates
            or self.unparked
            or self.parked
            or processed
            or self.rejected
            or self.outbox
            or self.log
            or offsets
        ):
            return
        views = list(self.changed.values())
        arguments = [
            now,
            *self._order_columns(views),
            *self._item_columns(views),
            *self._shipment_columns(views),
            *self._history_columns(views),
            *_transposed(self.processed_updates, 3),
            *_transposed(self._unparked_only(), 2),
            *self._parked_columns(),
            *_columns(processed, "source", "event_id", "shop_id", "order_id", "outcome"),
            *_columns(
                self.rejected,
                "shop_id",
                "order_id",
                "source",
                "event_id",
                "event_type",
                "reason",
                "message",
                "original_json",
            ),
            [str(r.topic_role) for r in self.outbox],
            *_columns(self.outbox, "lane", "shop_id", "order_id", "event_id"),
            self._outbox_texts(),
            bool(self.outbox),
            *_columns(
                self.log,
                "shop_id",
                "order_id",
                "sequence",
                "event_id",
                "type",
                "event_json",
                "history_len",
            ),
            consumer_group,
            [t for t, _ in offsets],
            [p for _, p in offsets],
            [self.offsets[k][0] for k in offsets],
            [self.offsets[k][1] for k in offsets],
            [self.offsets[k][2] for k in offsets],
            [r.sequence for r in self.outbox],
        ]
        statement = write_statement(arguments)
        await conn.execute(statement.sql, *statement.arguments(arguments))

    def _outbox_texts(self) -> list[str | None]:
        if not self.outbox_by_reference:
            return [r.event_json for r in self.outbox]
        # By reference the relay reads an order event's text from its log row (self.log).
        return [r.event_json if r.sequence is None else None for r in self.outbox]

    def _unparked_only(self) -> list[tuple[str, str]]:
        """The resolved parked events that are not parked again by this batch: the statement
        cannot delete and insert one key (queries.sql, write_batch), so those are replaced."""
        again = {r.record.ident for r in self.parked}
        return [k for k in self.unparked if k not in again]

    def _parked_columns(self) -> list[list[Any]]:
        records = [r.record for r in self.parked]
        return [
            *_columns(records, "source", "event_id", "shop_id", "order_id"),
            [str(r.topic_role) for r in records],
            *_columns(records, "event_json", "pair"),
            *_columns(self.parked, "source_topic", "source_offset"),
            [r.due_ms for r in records],
        ]

    def _order_columns(self, views: list[OrderView]) -> list[list[Any]]:
        return [
            [v.shop_id for v in views],
            [v.order_id for v in views],
            [v.fields.order_url for v in views],
            [v.fields.order_date for v in views],
            [v.fields.language for v in views],
            [v.fields.promised_delivery_date for v in views],
            [_tags_json(v) for v in views],
            [v.boarding_complete for v in views],
            [str(v.state) for v in views],
            [v.payment_evidence for v in views],
            [v.version for v in views],
            [v.deleted for v in views],
            [v.created_at for v in views],
            [v.updated_at for v in views],
            [stored_form(v, with_history=self.with_history) for v in views],
            [self.sequences.get((v.shop_id, v.order_id), 0) for v in views],
        ]

    def _before(self, view: OrderView) -> OrderView | None:
        return self.loaded.get((view.shop_id, view.order_id))

    def _changed_in(
        self, views: list[OrderView], part: Literal["items", "shipments"]
    ) -> tuple[list[OrderView], list[OrderView]]:
        """The views whose ``part`` (a list field) differs from the one loaded: those that
        were stored before (what they no longer hold is deleted), and all of them (what they
        hold is upserted). A new order has no rows to delete, so a batch of new orders sends
        no delete (write_statement.py)."""
        stored: list[OrderView] = []
        changed: list[OrderView] = []
        for v in views:
            before = self._before(v)
            if before is None:
                if getattr(v, part):
                    changed.append(v)
            elif getattr(before, part) != getattr(v, part):
                stored.append(v)
                changed.append(v)
        return stored, changed

    def _item_columns(self, views: list[OrderView]) -> list[list[Any]]:
        """The stored orders whose items changed, then the items of every order whose items
        changed: what they no longer hold is deleted, the rest upserted."""
        stale, changed = self._changed_in(views, "items")
        rows = [(v, n, i) for v in changed for n, i in enumerate(v.items)]
        return [
            [v.shop_id for v in stale],
            [v.order_id for v in stale],
            [v.shop_id for v, _, _ in rows],
            [v.order_id for v, _, _ in rows],
            [i.item_id for _, _, i in rows],
            [n for _, n, _ in rows],
            [i.sku for _, _, i in rows],
            [i.name for _, _, i in rows],
            [i.quantity for _, _, i in rows],
            [i.unit_price for _, _, i in rows],
            [i.currency for _, _, i in rows],
            [str(i.status) for _, _, i in rows],
        ]

    def _shipment_columns(self, views: list[OrderView]) -> list[list[Any]]:
        """Like the items: the orders whose shipments changed, then all their shipments."""
        stale, changed = self._changed_in(views, "shipments")
        rows = [(v, n, s) for v in changed for n, s in enumerate(v.shipments)]
        return [
            [v.shop_id for v in stale],
            [v.order_id for v in stale],
            [v.shop_id for v, _, _ in rows],
            [v.order_id for v, _, _ in rows],
            [s.shipment_id for _, _, s in rows],
            [n for _, n, _ in rows],
            [str(s.direction) for _, _, s in rows],
            [str(s.status) for _, _, s in rows],
            [s.carrier for _, _, s in rows],
            [s.tracking_code for _, _, s in rows],
            [s.linked_at for _, _, s in rows],
            [s.status_at for _, _, s in rows],
        ]

    def _history_columns(self, views: list[OrderView]) -> list[list[Any]]:
        # The entries after those the view was loaded with are new: the last ones.
        rows: list[tuple[OrderView, int, HistoryEntry]] = []
        for v in views:
            before = self._before(v)
            new = v.history[len(before.history) if before is not None else 0 :]
            first = v.history_length - len(new) + 1
            rows.extend((v, seq, h) for seq, h in enumerate(new, start=first))
        return [
            [v.shop_id for v, _, _ in rows],
            [v.order_id for v, _, _ in rows],
            [seq for _, seq, _ in rows],
            [str(h.state) for _, _, h in rows],
            [h.occurred_at for _, _, h in rows],
            [h.recorded_at for _, _, h in rows],
            [h.cause_event_id for _, _, h in rows],
            [h.late for _, _, h in rows],
            [h.location for _, _, h in rows],
            [offset_seconds(h.occurred_at) for _, _, h in rows],
        ]


def _transposed(rows: Sequence[tuple[str, ...]], width: int) -> list[list[str]]:
    """Columns of ``rows``, ``width`` of them even when there are no rows."""
    return [[r[n] for r in rows] for n in range(width)]


def _tags_json(view: OrderView) -> str:
    return json.dumps(view.tags, ensure_ascii=False)
