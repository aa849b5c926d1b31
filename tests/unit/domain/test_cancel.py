"""Rule 5 of docs/lifecycle.md: an order can be cancelled only while no outbound shipment is
linked."""

import pytest

from orderstate.domain import (
    Effect,
    OrderState,
    ReasonCode,
    ShipmentDirection,
    ShipmentStatus,
    StateChanged,
)
from tests.unit.domain.factories import (
    at,
    cancel_shipment,
    link_shipment,
    request_state,
    story_in,
)

S = OrderState


@pytest.mark.parametrize(
    ("current", "version"),
    [
        (S.NEW, 2),
        (S.PAID, 3),
        (S.IN_PRODUCTION, 4),
        (S.WAREHOUSE_HANDOVER, 5),
        (S.IN_PREPARATION, 6),
    ],
)
def test_cancel_applies_before_any_shipment(current: OrderState, version: int) -> None:
    """Rule 5: every track state before shipped may be cancelled."""
    story = story_in(current)

    decision = story.accept(request_state(S.CANCELLED, event_id="ev-cancel", occurred_at=at(90)))

    assert decision.effect is Effect.APPLIED
    assert decision.new_view.state is S.CANCELLED
    assert decision.emitted == (
        StateChanged(
            version=version,
            cause_event_id="ev-cancel",
            occurred_at=at(90),
            from_state=current,
            to_state=S.CANCELLED,
        ),
    )


def test_cancel_rejected_once_outbound_shipment_linked() -> None:
    """Rule 5: after an outbound shipment is linked the order must be returned, not cancelled."""
    story = story_in(S.SHIPPED)
    view = story.order

    rejected = story.reject(request_state(S.CANCELLED))

    assert rejected.reason is ReasonCode.CANCEL_AFTER_SHIPMENT
    assert rejected.message == (
        "Order o-1 is 'shipped'; 'cancelled' cannot follow it: an outbound shipment is linked, "
        "so the order can no longer be cancelled; send 'returned' once it comes back. "
        "Allowed next states: returned."
    )
    assert story.order == view


def test_cancel_rejected_on_completed_order() -> None:
    """Rule 5: a completed order had outbound shipments, so it cannot be cancelled either."""
    story = story_in(S.COMPLETED)

    rejected = story.reject(request_state(S.CANCELLED))

    assert rejected.reason is ReasonCode.CANCEL_AFTER_SHIPMENT
    assert "Allowed next states: returned." in rejected.message


def test_cancel_still_rejected_when_the_outbound_shipment_was_cancelled() -> None:
    """Rule 5 read literally: a cancelled shipment stays linked, so cancel stays refused."""
    # Such an order is stuck in 'shipped': it cannot be cancelled and, with no outbound
    # shipment left to deliver, never completes; only 'returned' is open. Pinned so that a
    # change to this reading of rule 5 is a deliberate one.
    story = story_in(S.SHIPPED)
    story.accept(cancel_shipment("s-1"))
    assert story.order.state is S.SHIPPED
    assert story.order.shipments[0].status is ShipmentStatus.CANCELLED

    rejected = story.reject(request_state(S.CANCELLED))

    assert rejected.reason is ReasonCode.CANCEL_AFTER_SHIPMENT


def test_return_shipment_alone_is_not_an_outbound_shipment() -> None:
    """Rules 5 and 9: a return shipment cannot be linked first, so cancel stays possible."""
    story = story_in(S.PAID)

    rejected = story.reject(link_shipment("r-1", ShipmentDirection.RETURN))
    assert rejected.reason is ReasonCode.RETURN_WITHOUT_SHIPMENT

    assert story.accept(request_state(S.CANCELLED)).new_view.state is S.CANCELLED


def test_cancelling_a_cancelled_order_is_a_noop() -> None:
    """Rule 3: cancelled again is a duplicate."""
    story = story_in(S.CANCELLED)
    view = story.order

    decision = story.accept(request_state(S.CANCELLED))

    assert decision.effect is Effect.DUPLICATE
    assert decision.new_view == view
    assert decision.emitted == ()
