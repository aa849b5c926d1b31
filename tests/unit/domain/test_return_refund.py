"""Rules 6 and 7 of docs/lifecycle.md: returned needs an outbound shipment; refunded needs a return
or cancellation and payment evidence, and is terminal."""

import pytest

from orderstate.domain import (
    Effect,
    Item,
    OrderState,
    ReasonCode,
    ShipmentDirection,
    ShipmentStatus,
    StateChanged,
    load_policy,
)
from tests.unit.domain.factories import (
    DEFAULT_TABLE,
    Story,
    add_item,
    at,
    create_order,
    item,
    link_shipment,
    remove_item,
    request_state,
    set_boarding,
    set_tags,
    shipment_status,
    story_in,
)

S = OrderState


@pytest.mark.parametrize(
    ("current", "allowed"),
    [
        (S.NEW, "paid, in_production, warehouse_handover, in_preparation, cancelled"),
        (S.PAID, "in_production, warehouse_handover, in_preparation, cancelled"),
        (S.IN_PREPARATION, "cancelled"),
    ],
)
def test_return_rejected_without_outbound_shipment(current: OrderState, allowed: str) -> None:
    """Rule 6: nothing shipped, nothing to return; the message names what may follow."""
    story = story_in(current)
    view = story.order

    rejected = story.reject(request_state(S.RETURNED))

    assert rejected.reason is ReasonCode.RETURN_WITHOUT_SHIPMENT
    assert rejected.message == (
        f"Order o-1 is '{current.value}'; 'returned' cannot follow it: nothing was shipped yet, "
        "so nothing can be returned; link an outbound shipment first, or cancel the order. "
        f"Allowed next states: {allowed}."
    )
    assert story.order == view


@pytest.mark.parametrize(("current", "version"), [(S.SHIPPED, 7), (S.COMPLETED, 8)])
def test_return_applies_once_outbound_shipment_linked(current: OrderState, version: int) -> None:
    """Rule 6: shipped and completed orders may be returned."""
    story = story_in(current)

    decision = story.accept(request_state(S.RETURNED, event_id="ev-return", occurred_at=at(99)))

    assert decision.effect is Effect.APPLIED
    assert decision.emitted == (
        StateChanged(
            version=version,
            cause_event_id="ev-return",
            occurred_at=at(99),
            from_state=current,
            to_state=S.RETURNED,
        ),
    )


@pytest.mark.parametrize(
    ("current", "allowed"),
    [
        (S.NEW, "Allowed next states: paid, in_production, warehouse_handover, "),
        (S.PAID, "Allowed next states: in_production, warehouse_handover, in_preparation, "),
        (S.IN_PREPARATION, "Allowed next states: cancelled."),
        (S.SHIPPED, "Allowed next states: returned."),
        (S.COMPLETED, "Allowed next states: returned."),
    ],
)
def test_refund_rejected_before_return_or_cancel(current: OrderState, allowed: str) -> None:
    """Rule 7: refunded only after returned or cancelled, even with payment evidence."""
    story = story_in(current)
    assert story.order.payment_evidence is (current is not S.NEW)

    rejected = story.reject(request_state(S.REFUNDED))

    assert rejected.reason is ReasonCode.REFUND_BEFORE_RETURN_OR_CANCEL
    assert rejected.message.startswith(
        f"Order o-1 is '{current.value}'; 'refunded' cannot follow it: an order is refunded "
        "only after it was returned or cancelled. "
    )
    assert allowed in rejected.message


def test_refund_rejected_without_payment_evidence() -> None:
    """Rule 7: a cancelled order that never showed 'paid' cannot be refunded."""
    story = Story()
    story.accept(create_order())
    story.accept(request_state(S.CANCELLED))
    view = story.order

    rejected = story.reject(request_state(S.REFUNDED))

    assert rejected.reason is ReasonCode.REFUND_WITHOUT_PAYMENT
    assert rejected.message == (
        "Order o-1: 'refunded' needs payment evidence, and no 'paid' state was ever recorded "
        "for this order (a late one would count). Send the 'paid' state first."
    )
    assert story.order == view


def test_refund_of_returned_cash_on_delivery_order_needs_payment_evidence() -> None:
    """Rule 7: cash on delivery skipped 'paid'; returned alone is not payment evidence."""
    story = Story()
    story.accept(create_order())
    story.accept(request_state(S.IN_PREPARATION))
    story.accept(link_shipment("s-1"))
    story.accept(request_state(S.RETURNED))

    assert story.reject(request_state(S.REFUNDED)).reason is ReasonCode.REFUND_WITHOUT_PAYMENT

    story.accept(request_state(S.PAID, occurred_at=at(3)))
    assert story.accept(request_state(S.REFUNDED)).new_view.state is S.REFUNDED


def test_created_as_paid_is_payment_evidence() -> None:
    """Rule 7: an order created in 'paid' can be refunded after cancellation."""
    story = Story()
    story.accept(create_order(state=S.PAID))
    story.accept(request_state(S.CANCELLED))

    assert story.accept(request_state(S.REFUNDED)).new_view.state is S.REFUNDED


def test_refund_without_payment_when_shop_policy_does_not_require_it() -> None:
    """Rule 7's payment check is a policy setting: refund_requires_payment = false drops it."""
    policy = load_policy(
        {"transitions": DEFAULT_TABLE, "refund_requires_payment": False}, name="shop lenient"
    )
    story = Story(policy)
    story.accept(create_order())
    story.accept(request_state(S.CANCELLED))

    assert story.accept(request_state(S.REFUNDED)).new_view.state is S.REFUNDED


def test_refunded_is_terminal() -> None:
    """Rule 7: nothing moves a refunded order; track states are only recorded late (rule 8)."""
    story = story_in(S.REFUNDED)
    assert story.order.version == 8

    rejections = {
        S.RETURNED: story.reject(request_state(S.RETURNED)).reason,
        S.CANCELLED: story.reject(request_state(S.CANCELLED)).reason,
        S.SHIPPED: story.reject(request_state(S.SHIPPED)).reason,
        S.COMPLETED: story.reject(request_state(S.COMPLETED)).reason,
    }
    assert rejections == {
        S.RETURNED: "order_closed",
        S.CANCELLED: "order_closed",
        S.SHIPPED: "state_not_settable",
        S.COMPLETED: "state_not_settable",
    }
    assert story.accept(request_state(S.REFUNDED)).effect is Effect.DUPLICATE
    for track_state in (S.NEW, S.PAID, S.IN_PRODUCTION, S.WAREHOUSE_HANDOVER, S.IN_PREPARATION):
        assert story.accept(request_state(track_state, occurred_at=at(2))).effect is Effect.LATE
    assert story.reject(link_shipment("s-2")).reason is ReasonCode.ORDER_CLOSED
    assert story.reject(link_shipment("r-1", ShipmentDirection.RETURN)).reason == "order_closed"
    assert story.reject(set_boarding(True)).reason is ReasonCode.ORDER_CLOSED
    assert story.reject(add_item(item("i-9"))).reason is ReasonCode.ORDER_CLOSED

    assert story.order.state is S.REFUNDED
    assert story.order.version == 13  # only the five late entries counted


def test_refunded_order_still_accepts_shipment_status_and_tags() -> None:
    """Not a state change: carrier updates and tags still land on a refunded order."""
    story = story_in(S.REFUNDED)

    assert story.accept(shipment_status("s-1", ShipmentStatus.DELIVERED)).effect is Effect.APPLIED
    assert story.accept(set_tags({"note": "refund ok"})).effect is Effect.APPLIED
    assert story.order.state is S.REFUNDED


def test_returned_order_items_may_still_change() -> None:
    """Items close only on cancelled and refunded orders; a returned order's items may change."""
    story = story_in(S.RETURNED)

    story.accept(add_item(Item(item_id="i-2", sku="SKU-2", quantity=1)))
    story.accept(remove_item("i-2"))

    assert story.order.items == ()
