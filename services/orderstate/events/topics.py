"""Every topic orderstate reads or writes: its role, default name, key and event types.

Names are the defaults; deployments may rename them through settings, but the
role, the key format and the allowed types belong to the contract.
"""

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["KEY_FORMAT", "SEQUENCED", "TOPICS", "Direction", "Topic", "TopicRole"]

KEY_FORMAT = "<shop_id>:<order_id>"


class TopicRole(StrEnum):
    ORDERS_IN = "orders_in"
    SHIPMENTS_IN = "shipments_in"
    ORDER_EVENTS_OUT = "order_events_out"
    REJECTED_OUT = "rejected_out"
    ALERTS_OUT = "alerts_out"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class Topic:
    role: TopicRole
    default_name: str
    direction: Direction
    description: str
    types: tuple[str, ...]


TOPICS: dict[TopicRole, Topic] = {
    t.role: t
    for t in (
        Topic(
            TopicRole.ORDERS_IN,
            "shop.orders.v1",
            Direction.INBOUND,
            "Order lifecycle events published by shop platforms (and, with source "
            "orderstate/api, every REST write that reached the state machine; with source "
            "orderstate/backfill, the orders `orderstate backfill` imported). orderstate also "
            "writes keyless records with an empty value and an orderstate-merge-marker or "
            "orderstate-clock-tick header, and copies of records found in a partition their "
            "key does not map to (header orderstate-forwarded-from): other consumers skip "
            "them.",
            (
                "order.created",
                "order.updated",
                "order.deleted",
                "order.state_changed",
                "order.item_added",
                "order.item_updated",
                "order.item_removed",
                "order.tags_set",
                "order.boarding_completed",
                "order.imported",
            ),
        ),
        Topic(
            TopicRole.SHIPMENTS_IN,
            "shop.shipments.v1",
            Direction.INBOUND,
            "Shipment events published by warehouses and carriers' integrations (and REST "
            "shipments, merge markers and forwarded copies as on the orders topic).",
            ("shipment.created", "shipment.status_changed", "shipment.cancelled"),
        ),
        Topic(
            TopicRole.ORDER_EVENTS_OUT,
            "orderstate.order-events.v1",
            Direction.OUTBOUND,
            "Every accepted change, in order per order; ce_sequence numbers each order's events "
            "1, 2, 3, ... without gaps; at-least-once, so deduplicate on key and sequence.",
            (
                "order.state_changed",
                "order.boarding_completed",
                "order.shipment_linked",
                "order.late_event_recorded",
                "order.updated",
                "order.deleted",
            ),
        ),
        Topic(
            TopicRole.REJECTED_OUT,
            "orderstate.rejected.v1",
            Direction.OUTBOUND,
            "Every rejected or malformed inbound event, with the reason code and the original.",
            ("event.rejected",),
        ),
        Topic(
            TopicRole.ALERTS_OUT,
            "orderstate.order-alerts.v1",
            Direction.OUTBOUND,
            "Alerts of the order monitor: an order past a deadline of its shop's alert rules "
            "(alert.raised), and the same alert once the order moved on (alert.cleared).",
            ("alert.raised", "alert.cleared"),
        ),
    )
}

# The topics whose events carry the order's gap-free ``sequence``.
SEQUENCED = frozenset({TopicRole.ORDER_EVENTS_OUT})
