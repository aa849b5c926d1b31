"""Changes to an order's own data: create, update, delete, items, tags, boarding (rule 10)."""

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orderstate.domain.changes import (
    AddItem,
    CreateOrder,
    DeleteOrder,
    RemoveItem,
    SetBoarding,
    SetTags,
    UpdateItem,
    UpdateOrder,
)
from orderstate.domain.emitted import BoardingCompleted, Emitted, OrderDeleted, StateChanged
from orderstate.domain.model import (
    MAX_ITEMS,
    MAX_TAGS,
    HistoryEntry,
    Item,
    OrderView,
    Tags,
    completed_in,
    history_summary,
)
from orderstate.domain.outcomes import Accepted, Decision, Rejected, accept, duplicate, reject
from orderstate.domain.policy import Policy
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import DERIVED_STATES, OrderState

__all__ = [
    "add_item",
    "create_order",
    "delete_order",
    "remove_item",
    "set_boarding",
    "set_tags",
    "update_item",
    "update_order",
]

S = OrderState
_ITEMS_CLOSED = (S.CANCELLED, S.REFUNDED)


def create_order(
    view: OrderView | None, change: CreateOrder, policy: Policy, now: datetime
) -> Decision:
    if view is not None and not view.deleted:
        differences = _create_differences(view, change)
        if not differences:
            return duplicate(view)
        return reject(
            ReasonCode.ORDER_EXISTS,
            f"Order {change.order_id} already exists with different {', '.join(differences)}; "
            "update it instead of creating it again.",
        )
    state = change.state or S.NEW
    refusal = _initial_state_refusal(change.order_id, state, policy)
    if refusal is not None:
        return refusal

    # A re-created order continues the deleted one's version, so outbound sequences never restart.
    version = (view.version if view is not None else 0) + 1
    history = [
        HistoryEntry(
            state=S.NEW,
            occurred_at=change.fields.order_date,
            recorded_at=now,
            cause_event_id=change.event_id,
        )
    ]
    if state is not S.NEW:
        history.append(
            HistoryEntry(
                state=state,
                occurred_at=change.occurred_at,
                recorded_at=now,
                cause_event_id=change.event_id,
            )
        )
    emitted: list[Emitted] = [
        StateChanged(
            version=version,
            cause_event_id=change.event_id,
            occurred_at=change.occurred_at,
            from_state=None,
            to_state=state,
        )
    ]
    if change.boarding_complete:
        emitted.append(_boarding_fact(version, change.event_id, change.occurred_at))
    new_view = OrderView(
        shop_id=change.shop_id,
        order_id=change.order_id,
        fields=change.fields,
        items=change.items,
        tags=change.tags,
        boarding_complete=change.boarding_complete,
        state=state,
        payment_evidence=state is S.PAID,
        version=version,
        # A re-created order keeps the deleted incarnation's history, and what it says of
        # moments seen; whether the order was completed is the new incarnation's alone, or a
        # completed order, deleted and created again, could never set boarding_complete
        # (rule 10) and so never complete.
        **{
            **(
                view.recording(history)
                if view is not None
                else {**history_summary(history), "history": tuple(history)}
            ),
            "created_in": state,
            "created_by": change.event_id,
            "completed_once": completed_in(history),
        },
        created_at=now,
        updated_at=now,
    )
    return Accepted(new_view=new_view, emitted=tuple(emitted))


def _create_differences(view: OrderView, change: CreateOrder) -> list[str]:
    differences = []
    if view.fields != change.fields:
        differences.append("order fields")
    if view.items != change.items:
        differences.append("items")
    if view.tags != change.tags:
        differences.append("tags")
    if view.boarding_complete != change.boarding_complete:
        differences.append("boarding_complete")
    if (change.state or S.NEW) != view.created_in:
        differences.append("initial state")
    return differences


def _initial_state_refusal(order_id: str, state: OrderState, policy: Policy) -> Rejected | None:
    if state is S.NEW or state in policy.allowed_after(S.NEW):
        return None
    if state in DERIVED_STATES:
        return reject(
            ReasonCode.STATE_NOT_SETTABLE,
            f"Order {order_id}: an order cannot be created as '{state}'; orderstate derives it.",
        )
    if state is S.RETURNED:
        return reject(
            ReasonCode.RETURN_WITHOUT_SHIPMENT,
            f"Order {order_id}: an order cannot be created as 'returned'; nothing was shipped.",
        )
    if state is S.REFUNDED:
        return reject(
            ReasonCode.REFUND_BEFORE_RETURN_OR_CANCEL,
            f"Order {order_id}: an order cannot be created as 'refunded'; it must be returned "
            "or cancelled first.",
        )
    allowed = sorted({S.NEW, *policy.allowed_after(S.NEW)}, key=list(OrderState).index)
    return reject(
        ReasonCode.TRANSITION_NOT_ALLOWED,
        f"Order {order_id}: policy '{policy.name}' does not allow creating an order as "
        f"'{state}'; allowed initial states: {', '.join(s.value for s in allowed)}.",
    )


def update_order(view: OrderView, change: UpdateOrder, now: datetime) -> Decision:
    patch = change.patch
    given = patch.model_fields_set
    field_updates = {
        name: getattr(patch, name)
        for name in given & {"order_url", "order_date", "language", "promised_delivery_date"}
    }
    if "order_date" in field_updates and field_updates["order_date"] is None:
        return reject(
            ReasonCode.MALFORMED,
            f"Order {view.order_id}: order_date cannot be removed; it is required.",
        )
    updates: dict[str, Any] = {}
    emitted: list[Emitted] = []
    fields = view.fields.evolve(**field_updates)
    if fields != view.fields:
        updates["fields"] = fields
    if "tags" in given and (patch.tags or {}) != view.tags:
        updates["tags"] = patch.tags or Tags()
    if (
        "boarding_complete" in given
        and patch.boarding_complete is not None
        and patch.boarding_complete != view.boarding_complete
    ):
        refusal = _boarding_refusal(view)
        if refusal is not None:
            return refusal
        updates["boarding_complete"] = patch.boarding_complete
        if patch.boarding_complete:
            emitted.append(_boarding_fact(view.version + 1, change.event_id, change.occurred_at))
    if not updates:
        return duplicate(view)
    return accept(view, now, emitted, **updates)


def delete_order(view: OrderView, change: DeleteOrder, now: datetime) -> Decision:
    fact = OrderDeleted(
        version=view.version + 1, cause_event_id=change.event_id, occurred_at=change.occurred_at
    )
    return accept(view, now, [fact], deleted=True)


def set_tags(view: OrderView, change: SetTags, now: datetime) -> Decision:
    tags = Tags({**view.tags, **change.tags}) if change.merge else change.tags
    if tags == view.tags:
        return duplicate(view)
    if len(tags) > MAX_TAGS:
        return reject(
            ReasonCode.MALFORMED,
            f"Order {view.order_id} would have {len(tags)} tags with this merge; an order has "
            f"at most {MAX_TAGS}.",
        )
    return accept(view, now, [], tags=tags)


def set_boarding(view: OrderView, change: SetBoarding, now: datetime) -> Decision:
    if change.boarding_complete == view.boarding_complete:
        return duplicate(view)
    refusal = _boarding_refusal(view)
    if refusal is not None:
        return refusal
    emitted: list[Emitted] = []
    if change.boarding_complete:
        emitted.append(_boarding_fact(view.version + 1, change.event_id, change.occurred_at))
    return accept(view, now, emitted, boarding_complete=change.boarding_complete)


def _boarding_refusal(view: OrderView) -> Rejected | None:
    if view.state in (S.CANCELLED, S.REFUNDED):
        return reject(
            ReasonCode.ORDER_CLOSED,
            f"Order {view.order_id} is '{view.state}'; boarding_complete can no longer change.",
        )
    if view.state is S.COMPLETED or view.completed_once:
        return reject(
            ReasonCode.ORDER_COMPLETED,
            f"Order {view.order_id} was completed; boarding_complete can no longer change.",
        )
    return None


def _boarding_fact(version: int, event_id: str, occurred_at: datetime) -> BoardingCompleted:
    return BoardingCompleted(version=version, cause_event_id=event_id, occurred_at=occurred_at)


def add_item(view: OrderView, change: AddItem, now: datetime) -> Decision:
    refusal = _items_refusal(view)
    if refusal is not None:
        return refusal
    existing = view.item(change.item.item_id)
    if existing == change.item:
        return duplicate(view)
    if existing is not None:
        return reject(
            ReasonCode.ITEM_EXISTS,
            f"Order {view.order_id} already has item {change.item.item_id} with other content; "
            "update it instead.",
        )
    if len(view.items) >= MAX_ITEMS:
        return reject(
            ReasonCode.MALFORMED,
            f"Order {view.order_id} has {len(view.items)} items; an order has at most {MAX_ITEMS}.",
        )
    return accept(view, now, [], items=(*view.items, change.item))


def update_item(view: OrderView, change: UpdateItem, now: datetime) -> Decision:
    refusal = _items_refusal(view)
    if refusal is not None:
        return refusal
    existing = view.item(change.item_id)
    if existing is None:
        return _item_not_found(view, change.item_id)
    try:
        updated = Item.model_validate(
            {**existing.model_dump(), **change.patch.model_dump(exclude_unset=True)}
        )
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        return reject(
            ReasonCode.MALFORMED,
            f"Order {view.order_id}: the update would leave item {change.item_id} invalid "
            f"({fields}); sku, quantity and status cannot be removed.",
        )
    if (updated.unit_price is None) != (updated.currency is None):
        # As an item added or created with the order must have both or neither (a price
        # without its currency means nothing); the patch alone cannot tell, the merge can.
        lone = "unit_price" if updated.currency is None else "currency"
        return reject(
            ReasonCode.MALFORMED,
            f"Order {view.order_id}: the update would leave item {change.item_id} with a "
            f"{lone} alone; unit_price and currency go together: give both or neither.",
        )
    if updated == existing:
        return duplicate(view)
    items = tuple(updated if i.item_id == change.item_id else i for i in view.items)
    return accept(view, now, [], items=items)


def remove_item(view: OrderView, change: RemoveItem, now: datetime) -> Decision:
    refusal = _items_refusal(view)
    if refusal is not None:
        return refusal
    if view.item(change.item_id) is None:
        return _item_not_found(view, change.item_id)
    return accept(view, now, [], items=tuple(i for i in view.items if i.item_id != change.item_id))


def _items_refusal(view: OrderView) -> Rejected | None:
    if view.state in _ITEMS_CLOSED:
        return reject(
            ReasonCode.ORDER_CLOSED,
            f"Order {view.order_id} is '{view.state}'; its items can no longer change.",
        )
    return None


def _item_not_found(view: OrderView, item_id: str) -> Rejected:
    known = ", ".join(i.item_id for i in view.items[:10]) or "none"
    return reject(
        ReasonCode.ITEM_NOT_FOUND,
        f"Order {view.order_id} has no item {item_id} (items: {known}).",
    )
