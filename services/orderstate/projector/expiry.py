"""Parked shipment events whose order never arrived become ``unknown_order`` rejections."""

from datetime import datetime

from orderstate.domain import PolicyBook, reject_expired_parked
from orderstate.events.decode import decode_event
from orderstate.events.envelope import CloudEvent
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query
from orderstate.projector.writes import BatchWrites

__all__ = ["expire_parked"]


async def expire_parked(
    conn: Conn, *, policies: PolicyBook, now: datetime, limit: int = 500
) -> int:
    """Reject up to ``limit`` expired parked events; return how many."""
    async with conn.transaction():
        candidates = await conn.fetch(query("expired_parked"), now, limit)
        if not candidates:
            return 0
        keys = sorted({f"{r['shop_id']}:{r['order_id']}" for r in candidates})
        await conn.execute(query("lock_orders"), keys)
        # Another writer may have applied some while we waited for the locks.
        gone = await conn.fetch(
            "DELETE FROM parked_events p USING unnest($1::text[], $2::text[]) AS k(s, e) "
            "WHERE p.source = k.s AND p.event_id = k.e RETURNING p.source, p.event_id",
            [r["source"] for r in candidates],
            [r["event_id"] for r in candidates],
        )
        deleted = {(r["source"], r["event_id"]) for r in gone}
        writes = BatchWrites()
        for row in candidates:
            if (row["source"], row["event_id"]) not in deleted:
                continue
            event = CloudEvent.model_validate_json(row["event"])
            change = decode_event(event, TopicRole(row["topic_role"])).change
            verdict = reject_expired_parked(change, policies.for_shop(event.shopid))
            original = RejectedOriginal(
                key=event.key, value=row["event"], event_id=event.id, event_type=event.type
            )
            writes.reject(
                shop_id=event.shopid,
                order_id=event.orderid,
                reason=verdict.reason,
                message=verdict.message,
                original=original,
                identity=(event.source, event.id),
                source=event.source,
                now=now,
            )
        await writes.flush(conn, now=now, consumer_group=None)
        return len(deleted)
