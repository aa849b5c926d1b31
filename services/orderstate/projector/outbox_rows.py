"""Outbox rows: what the relay will publish, built inside the transaction that decided it.

Outbound event ids are derived from the cause (source, id and the fact's index),
not drawn at random: re-deciding the same input, as a replay of the inbound
topics does, produces the same ids, so consumers can deduplicate on them.
"""

import hashlib
import uuid
import zlib
from datetime import datetime
from typing import NamedTuple

from orderstate.domain import Accepted, ReasonCode
from orderstate.events.envelope import CloudEvent
from orderstate.events.outbound import (
    RejectedOriginal,
    outbound_event_text,
    rejected_event,
    snapshot_text,
    time_data,
)
from orderstate.events.topics import TopicRole

__all__ = ["LANES", "OutboxRow", "derived_id", "fact_rows", "lane_of", "log_row", "rejection_row"]

# Publishing lanes: one relay at a time owns a lane. 64 lets up to 64 relays share the work.
LANES = 64
_NAMESPACE = uuid.UUID("6f2b8a3e-3c1d-4e43-9a55-0f7e0d5a9c11")
_NAMESPACE_BYTES = _NAMESPACE.bytes


class OutboxRow(NamedTuple):
    topic_role: TopicRole
    lane: int
    shop_id: str
    order_id: str
    event_id: str
    event_json: str
    # An order event's sequence: its row in the order event log, which holds the same text.
    sequence: int | None = None


def lane_of(shop_id: str, order_id: str) -> int:
    return zlib.crc32(f"{shop_id}:{order_id}".encode()) % LANES


def derived_id(source: str, event_id: str, suffix: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))`` for ``name`` = source, id and suffix on lines of
    their own, computed without the two ``UUID`` objects: one or more per accepted event, and the
    objects cost three quarters of it (tests/unit/projector/test_outbox_rows.py holds it to
    uuid5)."""
    digest = bytearray(
        hashlib.sha1(
            _NAMESPACE_BYTES + f"{source}\n{event_id}\n{suffix}".encode(), usedforsecurity=False
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _row(role: TopicRole, event: CloudEvent) -> OutboxRow:
    return OutboxRow(
        topic_role=role,
        lane=lane_of(event.shopid, event.orderid),
        shop_id=event.shopid,
        order_id=event.orderid,
        event_id=event.id,
        event_json=event.model_dump_json(exclude_none=True),
    )


def fact_rows(
    decision: Accepted, *, cause: CloudEvent, now: datetime, first_sequence: int
) -> list[OutboxRow]:
    """One row per emitted fact, numbered from ``first_sequence`` (the order's next outbound
    sequence); the order's snapshot is serialised once for all of them."""
    view = decision.new_view
    snapshot = snapshot_text(view)
    time = time_data(now)
    lane = lane_of(view.shop_id, view.order_id)
    rows = []
    for index, fact in enumerate(decision.emitted):
        event_id = derived_id(cause.source, cause.id, f"fact-{index}")
        rows.append(
            OutboxRow(
                topic_role=TopicRole.ORDER_EVENTS_OUT,
                lane=lane,
                shop_id=view.shop_id,
                order_id=view.order_id,
                event_id=event_id,
                event_json=outbound_event_text(
                    fact,
                    snapshot,
                    event_id=event_id,
                    time=time,
                    view=view,
                    sequence=first_sequence + index,
                ),
                sequence=first_sequence + index,
            )
        )
    return rows


def rejection_row(
    *,
    shop_id: str,
    order_id: str,
    reason: ReasonCode,
    message: str,
    original: RejectedOriginal,
    identity: tuple[str, str],
    now: datetime,
) -> OutboxRow:
    event = rejected_event(
        shop_id=shop_id,
        order_id=order_id,
        reason=reason,
        message=message,
        original=original,
        event_id=derived_id(identity[0], identity[1], "rejected"),
        now=now,
    )
    return _row(TopicRole.REJECTED_OUT, event)


def log_row(event: CloudEvent, role: TopicRole) -> OutboxRow:
    """The inbound event itself, for a change that did not come from Kafka (REST)."""
    return _row(role, event)
