"""Importing an order with its history (``orderstate backfill``).

An import is one change that creates the whole order as another system knew it: fields,
items, tags, shipments, boarding and every state it went through, at the times it went
through them. It does not replay the lifecycle rules over that history (the other system
decided it; refusing a past that happened would only lose orders), but it never touches an
order the shop already has: an import is not a way to overwrite live history.
"""

from datetime import datetime

from orderstate.domain.changes import ImportOrder
from orderstate.domain.emitted import BoardingCompleted, Emitted, StateChanged
from orderstate.domain.model import HistoryEntry, OrderView, history_summary
from orderstate.domain.outcomes import Accepted, Decision, duplicate, reject
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import OrderState

__all__ = ["import_order"]


def import_order(view: OrderView | None, change: ImportOrder, now: datetime) -> Decision:
    if view is not None:
        if view.created_by == change.event_id:
            # This import made the order (a re-run, or a redelivery beyond the dedupe window).
            return duplicate(view)
        gone = ", deleted" if view.deleted else ""
        return reject(
            ReasonCode.ORDER_EXISTS,
            f"Order {change.order_id} already exists (version {view.version}, "
            f"'{view.state}'{gone}); an import only creates orders the shop never had and "
            "never overwrites one. Leave it out of the import, or send the changes it misses "
            "as events.",
        )
    history = tuple(
        HistoryEntry(
            state=h.state,
            occurred_at=h.occurred_at,
            recorded_at=now,
            cause_event_id=change.event_id,
            late=h.late,
            location=h.location,
        )
        for h in change.history
    )
    new_view = OrderView(
        shop_id=change.shop_id,
        order_id=change.order_id,
        fields=change.fields,
        items=change.items,
        tags=change.tags,
        shipments=change.shipments,
        boarding_complete=change.boarding_complete,
        state=change.state,
        payment_evidence=any(h.state is OrderState.PAID for h in history),
        version=1,
        # The import made this incarnation even if its history shows no ``new`` entry.
        **{**history_summary(history), "created_by": change.event_id},
        history=history,
        created_at=now,
        updated_at=now,
    )
    emitted: list[Emitted] = []
    if change.emit:
        emitted.append(
            StateChanged(
                version=1,
                cause_event_id=change.event_id,
                occurred_at=change.occurred_at,
                from_state=None,
                to_state=change.state,
                backfill=True,
            )
        )
        if change.boarding_complete:
            emitted.append(
                BoardingCompleted(
                    version=1,
                    cause_event_id=change.event_id,
                    occurred_at=change.occurred_at,
                    backfill=True,
                )
            )
    return Accepted(new_view=new_view, emitted=tuple(emitted))
