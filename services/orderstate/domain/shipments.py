"""Shipment links (rule 9) and the derived states they drive.

Linking the first outbound shipment ships an order still on the track;
``complete_if_due`` then moves a shipped order to ``completed`` once boarding
is complete and every outbound shipment that was not cancelled is delivered.
"""

from dataclasses import replace
from datetime import datetime

from orderstate.domain.changes import CancelShipment, Change, ChangeShipmentStatus, LinkShipment
from orderstate.domain.emitted import Emitted, ShipmentLinked
from orderstate.domain.model import (
    OrderView,
    ShipmentDirection,
    ShipmentLink,
    ShipmentStatus,
)
from orderstate.domain.outcomes import Accepted, Decision, duplicate, move_to, reject
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import OrderState, track_rank

__all__ = ["cancel_shipment", "change_shipment_status", "complete_if_due", "link_shipment"]

S = OrderState
_SHIPPED_RANK = track_rank(S.SHIPPED)


def link_shipment(view: OrderView, change: LinkShipment, now: datetime) -> Decision:
    link = ShipmentLink(
        shipment_id=change.shipment_id,
        direction=change.direction,
        status=change.status,
        carrier=change.carrier,
        tracking_code=change.tracking_code,
        linked_at=change.occurred_at,
        status_at=change.occurred_at,
    )
    existing = view.shipment(change.shipment_id)
    if existing is not None:
        same = existing.model_dump(exclude={"status", "status_at", "linked_at"}) == link.model_dump(
            exclude={"status", "status_at", "linked_at"}
        )
        if same:
            # A re-sent shipment.created with a newer status is that status update.
            if existing.status != change.status:
                return _set_status(view, change, change.shipment_id, change.status, now)
            return duplicate(view)
        return reject(
            ReasonCode.SHIPMENT_EXISTS,
            f"Order {view.order_id}: shipment {change.shipment_id} is already linked as "
            f"{existing.direction} ({existing.carrier or 'no carrier'}, "
            f"{existing.tracking_code or 'no tracking code'}); use a new shipment id.",
        )
    if view.state in (S.CANCELLED, S.REFUNDED):
        return reject(
            ReasonCode.ORDER_CLOSED,
            f"Order {view.order_id} is '{view.state}'; no shipment may be linked to it.",
        )
    if change.direction is ShipmentDirection.RETURN and not view.has_outbound_shipment:
        return reject(
            ReasonCode.RETURN_WITHOUT_SHIPMENT,
            f"Order {view.order_id}: return shipment {change.shipment_id} needs an outbound "
            "shipment linked first.",
        )
    if change.direction is ShipmentDirection.OUTBOUND and view.state is S.COMPLETED:
        return reject(
            ReasonCode.ORDER_COMPLETED,
            f"Order {view.order_id} is completed: every outbound shipment was delivered and "
            "boarding was complete; a further outbound shipment needs a new order.",
        )

    version = view.version + 1
    emitted: list[Emitted] = [
        ShipmentLinked(
            version=version,
            cause_event_id=change.event_id,
            occurred_at=change.occurred_at,
            shipment_id=change.shipment_id,
            direction=change.direction,
        )
    ]
    updates: dict[str, object] = {"shipments": (*view.shipments, link)}
    rank = track_rank(view.state)
    if (
        change.direction is ShipmentDirection.OUTBOUND
        and rank is not None
        and _SHIPPED_RANK is not None
        and rank < _SHIPPED_RANK
    ):
        state_updates, fact = move_to(view, S.SHIPPED, change, now)
        updates.update(state_updates)
        emitted.append(fact)
    new_view = view.evolve(**updates, version=version, updated_at=now)
    return Accepted(new_view=new_view, emitted=tuple(emitted))


def change_shipment_status(
    view: OrderView, change: ChangeShipmentStatus, now: datetime
) -> Decision:
    return _set_status(view, change, change.shipment_id, change.status, now)


def cancel_shipment(view: OrderView, change: CancelShipment, now: datetime) -> Decision:
    return _set_status(view, change, change.shipment_id, ShipmentStatus.CANCELLED, now)


def _set_status(
    view: OrderView, change: Change, shipment_id: str, status: ShipmentStatus, now: datetime
) -> Decision:
    existing = view.shipment(shipment_id)
    if existing is None:
        return reject(
            ReasonCode.UNKNOWN_SHIPMENT,
            f"Order {view.order_id} has no shipment {shipment_id}; link it with "
            "shipment.created first.",
        )
    if existing.status == status:
        return duplicate(view)
    if existing.status is ShipmentStatus.CANCELLED:
        return reject(
            ReasonCode.SHIPMENT_CANCELLED,
            f"Order {view.order_id}: shipment {shipment_id} was cancelled; its status cannot "
            f"change to '{status}'.",
        )
    updated = existing.evolve(status=status, status_at=change.occurred_at)
    shipments = tuple(updated if s.shipment_id == shipment_id else s for s in view.shipments)
    new_view = view.evolve(shipments=shipments, version=view.version + 1, updated_at=now)
    return Accepted(new_view=new_view, emitted=())


def complete_if_due(
    before: OrderView, accepted: Accepted, change: Change, now: datetime
) -> Accepted:
    """Add the move to ``completed`` to an accepted change that made the order complete."""
    view = accepted.new_view
    if view.state is not S.SHIPPED or not view.boarding_complete:
        return accepted
    outbound = [
        s
        for s in view.shipments
        if s.direction is ShipmentDirection.OUTBOUND and s.status is not ShipmentStatus.CANCELLED
    ]
    if not outbound or any(s.status is not ShipmentStatus.DELIVERED for s in outbound):
        return accepted
    # move_to counts from the view before the change so both facts share one version.
    moving_from = view.evolve(version=before.version)
    updates, fact = move_to(moving_from, S.COMPLETED, change, now)
    return replace(accepted, new_view=view.evolve(**updates), emitted=(*accepted.emitted, fact))
