"""Builders for the domain specification tests.

Changes come with readable defaults (one shop, one order, UTC times), and a
``Story`` drives one order through ``decide`` the way the projector does: the
caller's clock moves one minute per decision and every accepted change becomes
the next view. ``story_in`` reaches each of the ten states by a realistic path,
one track step at a time, so it also works under a stricter shop table.

Imported as ``tests.unit.domain.factories``: ``tests`` is a namespace package under pytest's
``--import-mode=importlib`` (checked with and without ``pythonpath = ["."]``).
"""

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from orderstate.domain import (
    DEFAULT_POLICY,
    TRACK,
    Accepted,
    AddItem,
    CancelShipment,
    Change,
    ChangeShipmentStatus,
    CreateOrder,
    Decision,
    DeleteOrder,
    Item,
    ItemPatch,
    LinkShipment,
    OrderFields,
    OrderPatch,
    OrderState,
    OrderView,
    Policy,
    Rejected,
    RemoveItem,
    RequestState,
    SetBoarding,
    SetTags,
    ShipmentDirection,
    ShipmentStatus,
    Tags,
    UpdateItem,
    UpdateOrder,
    decide,
)

__all__ = [
    "DEFAULT_TABLE",
    "ORDER",
    "SHOP",
    "STRICT_TABLE",
    "T0",
    "Story",
    "add_item",
    "at",
    "cancel_shipment",
    "create_order",
    "delete_order",
    "item",
    "link_shipment",
    "order_fields",
    "remove_item",
    "request_state",
    "set_boarding",
    "set_tags",
    "shipment_status",
    "story_in",
    "update_item",
    "update_order",
]

SHOP = "shop-1"
ORDER = "o-1"
# The order was placed at T0; the shop's events happen at T0 + n minutes.
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

S = OrderState
_event_ids = count(1)

# The default policy of docs/lifecycle.md (rules 1 and 5-8) written out as configuration.
DEFAULT_TABLE: dict[str, list[str]] = {
    "new": ["paid", "in_production", "warehouse_handover", "in_preparation", "cancelled"],
    "paid": ["in_production", "warehouse_handover", "in_preparation", "cancelled"],
    "in_production": ["warehouse_handover", "in_preparation", "cancelled"],
    "warehouse_handover": ["in_preparation", "cancelled"],
    "in_preparation": ["cancelled"],
    "shipped": ["returned"],
    "completed": ["returned"],
    "cancelled": ["refunded"],
    "returned": ["refunded"],
    "refunded": [],
}

# A shop that may not skip track states; refunded is left out, so it leads nowhere.
STRICT_TABLE: dict[str, list[str]] = {
    "new": ["paid", "cancelled"],
    "paid": ["in_production", "cancelled"],
    "in_production": ["warehouse_handover", "cancelled"],
    "warehouse_handover": ["in_preparation", "cancelled"],
    "in_preparation": ["cancelled"],
    "shipped": ["returned"],
    "completed": ["returned"],
    "cancelled": ["refunded"],
    "returned": ["refunded"],
}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _change(
    event_id: str | None, occurred_at: datetime | None, expected_version: int | None
) -> dict[str, Any]:
    return {
        "shop_id": SHOP,
        "order_id": ORDER,
        "event_id": event_id if event_id is not None else f"ev-{next(_event_ids)}",
        "occurred_at": occurred_at if occurred_at is not None else at(1),
        "expected_version": expected_version,
    }


def order_fields(**overrides: Any) -> OrderFields:
    values: dict[str, Any] = {
        "order_url": "https://shop.example/orders/o-1",
        "order_date": T0,
        "language": "de",
    }
    values.update(overrides)
    return OrderFields(**values)


def item(item_id: str = "i-1", **overrides: Any) -> Item:
    values: dict[str, Any] = {"item_id": item_id, "sku": f"SKU-{item_id}", "quantity": 1}
    values.update(overrides)
    return Item(**values)


def create_order(
    *,
    state: OrderState | None = None,
    boarding_complete: bool = False,
    fields: OrderFields | None = None,
    items: tuple[Item, ...] = (),
    tags: dict[str, str] | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> CreateOrder:
    return CreateOrder(
        **_change(event_id, occurred_at or T0, expected_version),
        fields=fields or order_fields(),
        items=items,
        tags=Tags(tags or {}),
        state=state,
        boarding_complete=boarding_complete,
    )


def request_state(
    state: OrderState,
    *,
    location: str | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> RequestState:
    return RequestState(
        **_change(event_id, occurred_at, expected_version), state=state, location=location
    )


def link_shipment(
    shipment_id: str = "s-1",
    direction: ShipmentDirection = ShipmentDirection.OUTBOUND,
    *,
    status: ShipmentStatus = ShipmentStatus.NEW,
    carrier: str | None = "dhl",
    tracking_code: str | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> LinkShipment:
    return LinkShipment(
        **_change(event_id, occurred_at, expected_version),
        shipment_id=shipment_id,
        direction=direction,
        status=status,
        carrier=carrier,
        tracking_code=tracking_code,
    )


def shipment_status(
    shipment_id: str,
    status: ShipmentStatus,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> ChangeShipmentStatus:
    return ChangeShipmentStatus(
        **_change(event_id, occurred_at, expected_version), shipment_id=shipment_id, status=status
    )


def cancel_shipment(
    shipment_id: str,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> CancelShipment:
    return CancelShipment(
        **_change(event_id, occurred_at, expected_version), shipment_id=shipment_id
    )


def set_boarding(
    boarding_complete: bool,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> SetBoarding:
    return SetBoarding(
        **_change(event_id, occurred_at, expected_version), boarding_complete=boarding_complete
    )


def add_item(
    new_item: Item,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> AddItem:
    return AddItem(**_change(event_id, occurred_at, expected_version), item=new_item)


def update_item(
    item_id: str,
    patch: ItemPatch,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> UpdateItem:
    return UpdateItem(
        **_change(event_id, occurred_at, expected_version), item_id=item_id, patch=patch
    )


def remove_item(
    item_id: str,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> RemoveItem:
    return RemoveItem(**_change(event_id, occurred_at, expected_version), item_id=item_id)


def set_tags(
    tags: dict[str, str],
    *,
    merge: bool = False,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> SetTags:
    return SetTags(**_change(event_id, occurred_at, expected_version), tags=Tags(tags), merge=merge)


def update_order(
    patch: OrderPatch,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> UpdateOrder:
    return UpdateOrder(**_change(event_id, occurred_at, expected_version), patch=patch)


def delete_order(
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    expected_version: int | None = None,
) -> DeleteOrder:
    return DeleteOrder(**_change(event_id, occurred_at, expected_version))


class Story:
    """One order driven through ``decide``; ``now`` moves one minute per decision."""

    def __init__(self, policy: Policy = DEFAULT_POLICY, *, start: datetime = T0) -> None:
        self.policy = policy
        self.now = start
        self.view: OrderView | None = None

    def decide(self, change: Change) -> Decision:
        self.now += timedelta(minutes=1)
        decision = decide(self.view, change, self.policy, self.now)
        if isinstance(decision, Accepted):
            self.view = decision.new_view
        return decision

    def accept(self, change: Change) -> Accepted:
        decision = self.decide(change)
        assert isinstance(decision, Accepted), decision
        return decision

    def reject(self, change: Change) -> Rejected:
        decision = self.decide(change)
        assert isinstance(decision, Rejected), decision
        return decision

    @property
    def order(self) -> OrderView:
        assert self.view is not None
        return self.view


def story_in(state: OrderState, policy: Policy = DEFAULT_POLICY) -> Story:
    """An order in ``state`` with payment evidence, reached one track step at a time.

    Shipped and later states go through ``in_preparation`` and one outbound shipment
    ``s-1``; ``completed`` was created with boarding complete and had ``s-1`` delivered.
    """
    story = Story(policy)
    story.accept(create_order(boarding_complete=state is S.COMPLETED))
    minute = 10

    def step(change_state: OrderState) -> None:
        nonlocal minute
        story.accept(request_state(change_state, occurred_at=at(minute)))
        minute += 10

    walk_to = {
        S.SHIPPED: S.IN_PREPARATION,
        S.COMPLETED: S.IN_PREPARATION,
        S.RETURNED: S.IN_PREPARATION,
        S.REFUNDED: S.IN_PREPARATION,
        S.CANCELLED: S.PAID,
    }.get(state, state)
    for track_state in TRACK[1 : TRACK.index(walk_to) + 1]:
        step(track_state)
    if state in (S.SHIPPED, S.COMPLETED, S.RETURNED, S.REFUNDED):
        story.accept(link_shipment("s-1", occurred_at=at(minute)))
        minute += 10
    if state is S.COMPLETED:
        story.accept(shipment_status("s-1", ShipmentStatus.DELIVERED, occurred_at=at(minute)))
    if state in (S.RETURNED, S.REFUNDED):
        step(S.RETURNED)
    if state is S.REFUNDED:
        step(S.REFUNDED)
    if state is S.CANCELLED:
        step(S.CANCELLED)
    assert story.order.state is state, story.order.state
    return story
