"""``decide``: the one lifecycle function the projector and the REST API both call.

It is pure. The caller passes the clock (``now``) and the policy, and gets back
a value: ``Accepted`` with the new view and the facts to publish,
``Rejected`` with a reason code and a message for the shop developer, or
``Parked`` for a shipment event whose order has not arrived yet.
"""

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from orderstate.domain.changes import (
    AddItem,
    CancelShipment,
    Change,
    ChangeShipmentStatus,
    CreateOrder,
    DeleteOrder,
    ImportOrder,
    LinkShipment,
    RemoveItem,
    RequestState,
    SetBoarding,
    SetTags,
    UpdateItem,
    UpdateOrder,
)
from orderstate.domain.emitted import OrderUpdated
from orderstate.domain.imports import import_order
from orderstate.domain.lifecycle import request_state
from orderstate.domain.model import OrderView
from orderstate.domain.order_changes import (
    add_item,
    create_order,
    delete_order,
    remove_item,
    set_boarding,
    set_tags,
    update_item,
    update_order,
)
from orderstate.domain.outcomes import Accepted, Decision, Effect, Parked, Rejected, reject
from orderstate.domain.policy import Policy
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.shipments import (
    cancel_shipment,
    change_shipment_status,
    complete_if_due,
    link_shipment,
)

__all__ = ["SHIPMENT_CHANGES", "change_kind", "decide", "reject_expired_parked"]

SHIPMENT_CHANGES = (LinkShipment, ChangeShipmentStatus, CancelShipment)

# Handlers for changes to an existing order; the policy argument is passed only where used.
_Handler = Callable[[OrderView, Any, Policy, datetime], Decision]
_HANDLERS: dict[type[Change], _Handler] = {
    RequestState: request_state,
    UpdateOrder: lambda v, c, _p, n: update_order(v, c, n),
    DeleteOrder: lambda v, c, _p, n: delete_order(v, c, n),
    AddItem: lambda v, c, _p, n: add_item(v, c, n),
    UpdateItem: lambda v, c, _p, n: update_item(v, c, n),
    RemoveItem: lambda v, c, _p, n: remove_item(v, c, n),
    SetTags: lambda v, c, _p, n: set_tags(v, c, n),
    SetBoarding: lambda v, c, _p, n: set_boarding(v, c, n),
    LinkShipment: lambda v, c, _p, n: link_shipment(v, c, n),
    ChangeShipmentStatus: lambda v, c, _p, n: change_shipment_status(v, c, n),
    CancelShipment: lambda v, c, _p, n: cancel_shipment(v, c, n),
}

_KINDS: dict[type[Change], str] = {
    CreateOrder: "order_created",
    UpdateOrder: "order_updated",
    DeleteOrder: "order_deleted",
    RequestState: "state_requested",
    AddItem: "item_added",
    UpdateItem: "item_updated",
    RemoveItem: "item_removed",
    SetTags: "tags_set",
    SetBoarding: "boarding_set",
    LinkShipment: "shipment_linked",
    ChangeShipmentStatus: "shipment_status_changed",
    CancelShipment: "shipment_cancelled",
    ImportOrder: "order_imported",
}


def change_kind(change: Change) -> str:
    """A stable name for the kind of change, used on ``order.updated`` facts and in logs."""
    return _KINDS[type(change)]


def decide(view: OrderView | None, change: Change, policy: Policy, now: datetime) -> Decision:
    if view is not None and (view.shop_id, view.order_id) != (change.shop_id, change.order_id):
        raise ValueError(
            f"decide() got the view of {view.shop_id}:{view.order_id} "
            f"for a change to {change.shop_id}:{change.order_id}"
        )
    if isinstance(change, ImportOrder):
        return import_order(view, change, now)
    if isinstance(change, CreateOrder):
        if change.expected_version is not None and view is not None and not view.deleted:
            conflict = _version_conflict(view, change)
            if conflict is not None:
                return conflict
        return create_order(view, change, policy, now)
    if view is None and isinstance(change, SHIPMENT_CHANGES):
        return Parked(
            expires_at=now + policy.park_ttl,
            message=(
                f"Order {change.order_id} is not known yet; the shipment event waits for it "
                f"until {(now + policy.park_ttl).isoformat()}."
            ),
        )
    if view is None or view.deleted:
        gone = "was deleted" if view is not None else "does not exist"
        return reject(
            ReasonCode.UNKNOWN_ORDER,
            f"Order {change.order_id} of shop {change.shop_id} {gone}; create it with "
            "order.created first.",
        )
    conflict = _version_conflict(view, change)
    if conflict is not None:
        return conflict
    decision = _HANDLERS[type(change)](view, change, policy, now)
    if not isinstance(decision, Accepted) or decision.effect is not Effect.APPLIED:
        return decision
    decision = complete_if_due(view, decision, change, now)
    if not decision.emitted:
        fact = OrderUpdated(
            version=decision.new_view.version,
            cause_event_id=change.event_id,
            occurred_at=change.occurred_at,
            change=change_kind(change),
        )
        decision = replace(decision, emitted=(fact,))
    return decision


def reject_expired_parked(change: Change, policy: Policy) -> Rejected:
    """The verdict for a parked shipment event whose order never arrived (rule 9)."""
    hours = policy.park_ttl.total_seconds() / 3600
    return reject(
        ReasonCode.UNKNOWN_ORDER,
        f"Order {change.order_id} of shop {change.shop_id} did not arrive within {hours:g} h "
        "of this shipment event; create the order before linking shipments to it.",
    )


def _version_conflict(view: OrderView, change: Change) -> Rejected | None:
    if change.expected_version is None or change.expected_version == view.version:
        return None
    return reject(
        ReasonCode.VERSION_CONFLICT,
        f"Order {view.order_id} is at version {view.version}, the change expected version "
        f"{change.expected_version}; read the order again and retry.",
    )
