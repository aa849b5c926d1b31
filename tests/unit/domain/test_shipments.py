"""Rule 9 of docs/lifecycle.md and the derived states: linking shipments ships an order, delivery of
every outbound shipment completes it (with boarding complete), early shipments are parked."""

from datetime import timedelta

import pytest

from orderstate.domain import (
    DEFAULT_POLICY,
    Change,
    Effect,
    HistoryEntry,
    OrderState,
    OrderUpdated,
    Parked,
    ReasonCode,
    ShipmentDirection,
    ShipmentLink,
    ShipmentLinked,
    ShipmentStatus,
    StateChanged,
    load_policy,
    reject_expired_parked,
)
from tests.unit.domain.factories import (
    DEFAULT_TABLE,
    Story,
    at,
    cancel_shipment,
    create_order,
    delete_order,
    link_shipment,
    request_state,
    set_boarding,
    shipment_status,
    story_in,
)

S = OrderState
OUT = ShipmentDirection.OUTBOUND
RET = ShipmentDirection.RETURN
DELIVERED = ShipmentStatus.DELIVERED


def test_first_outbound_link_ships_the_order() -> None:
    """Derived state: linking the first outbound shipment moves the order to shipped."""
    story = story_in(S.PAID)

    decision = story.accept(
        link_shipment("s-1", event_id="ev-link", occurred_at=at(50), tracking_code="JJD0001")
    )

    assert decision.effect is Effect.APPLIED
    assert decision.emitted == (
        ShipmentLinked(
            version=3,
            cause_event_id="ev-link",
            occurred_at=at(50),
            shipment_id="s-1",
            direction=OUT,
        ),
        StateChanged(
            version=3,
            cause_event_id="ev-link",
            occurred_at=at(50),
            from_state=S.PAID,
            to_state=S.SHIPPED,
        ),
    )
    assert decision.new_view.state is S.SHIPPED
    assert decision.new_view.version == 3
    assert decision.new_view.shipments == (
        ShipmentLink(
            shipment_id="s-1",
            direction=OUT,
            status=ShipmentStatus.NEW,
            carrier="dhl",
            tracking_code="JJD0001",
            linked_at=at(50),
            status_at=at(50),
        ),
    )
    assert decision.new_view.history[-1] == HistoryEntry(
        state=S.SHIPPED, occurred_at=at(50), recorded_at=at(3), cause_event_id="ev-link"
    )


@pytest.mark.parametrize(
    "current", [S.NEW, S.PAID, S.IN_PRODUCTION, S.WAREHOUSE_HANDOVER, S.IN_PREPARATION]
)
def test_outbound_link_ships_from_every_track_state_before_shipped(current: OrderState) -> None:
    """Derived state: shipped needs no table edge; any state before it on the track ships."""
    story = story_in(current)

    assert story.accept(link_shipment("s-1")).new_view.state is S.SHIPPED


def test_second_outbound_link_does_not_move_the_state() -> None:
    """Derived state: only the first outbound shipment ships the order."""
    story = story_in(S.SHIPPED)

    decision = story.accept(link_shipment("s-2", event_id="ev-link-2", occurred_at=at(80)))

    assert decision.emitted == (
        ShipmentLinked(
            version=7,
            cause_event_id="ev-link-2",
            occurred_at=at(80),
            shipment_id="s-2",
            direction=OUT,
        ),
    )
    assert decision.new_view.state is S.SHIPPED
    assert [s.shipment_id for s in decision.new_view.shipments] == ["s-1", "s-2"]


@pytest.mark.parametrize("direction", [OUT, RET])
def test_shipment_rejected_on_cancelled_order(direction: ShipmentDirection) -> None:
    """Rule 9: no shipment, outbound or return, may be linked to a cancelled order."""
    story = story_in(S.CANCELLED)
    view = story.order

    rejected = story.reject(link_shipment("s-1", direction))

    assert rejected.reason is ReasonCode.ORDER_CLOSED
    assert rejected.message == "Order o-1 is 'cancelled'; no shipment may be linked to it."
    assert story.order == view


def test_shipment_rejected_on_refunded_order() -> None:
    """Rule 9: no shipment may be linked to a refunded order."""
    story = story_in(S.REFUNDED)

    rejected = story.reject(link_shipment("r-1", RET))

    assert rejected.reason is ReasonCode.ORDER_CLOSED
    assert rejected.message == "Order o-1 is 'refunded'; no shipment may be linked to it."


@pytest.mark.parametrize("direction", [OUT, RET])
def test_shipment_may_be_linked_to_returned_order(direction: ShipmentDirection) -> None:
    """Rule 9 names only cancelled and refunded; a returned order keeps taking shipments."""
    story = story_in(S.RETURNED)

    decision = story.accept(link_shipment("s-2", direction))

    assert decision.new_view.state is S.RETURNED
    assert [type(fact) for fact in decision.emitted] == [ShipmentLinked]


def test_return_shipment_needs_outbound() -> None:
    """Rule 9: a return shipment before any outbound one is return_without_shipment."""
    story = story_in(S.IN_PREPARATION)
    view = story.order

    rejected = story.reject(link_shipment("r-1", RET))

    assert rejected.reason is ReasonCode.RETURN_WITHOUT_SHIPMENT
    assert rejected.message == (
        "Order o-1: return shipment r-1 needs an outbound shipment linked first."
    )
    assert story.order == view


def test_return_shipment_after_outbound_keeps_the_state() -> None:
    """Rule 9: a return shipment links, but only the shop's 'returned' moves the state."""
    story = story_in(S.SHIPPED)

    decision = story.accept(link_shipment("r-1", RET, event_id="ev-ret", occurred_at=at(90)))

    assert decision.emitted == (
        ShipmentLinked(
            version=7,
            cause_event_id="ev-ret",
            occurred_at=at(90),
            shipment_id="r-1",
            direction=RET,
        ),
    )
    assert decision.new_view.state is S.SHIPPED


def test_same_shipment_link_is_a_duplicate() -> None:
    """Rule 3 for shipments: the same link again changes nothing."""
    story = story_in(S.SHIPPED)
    view = story.order

    again = story.accept(link_shipment("s-1"))

    assert again.effect is Effect.DUPLICATE
    assert again.emitted == ()
    assert again.new_view == view


def test_same_shipment_link_with_a_newer_status_updates_the_status() -> None:
    """A re-sent shipment.created that carries a newer status is that status change."""
    story = story_in(S.SHIPPED)

    decision = story.accept(link_shipment("s-1", status=ShipmentStatus.IN_TRANSIT))

    assert decision.effect is Effect.APPLIED
    assert [s.status for s in decision.new_view.shipments] == [ShipmentStatus.IN_TRANSIT]


def test_shipment_id_relinked_with_other_content_is_shipment_exists() -> None:
    """A shipment id names one shipment; other carrier or direction is a conflict."""
    story = story_in(S.SHIPPED)

    rejected = story.reject(link_shipment("s-1", carrier="ups"))

    assert rejected.reason is ReasonCode.SHIPMENT_EXISTS
    assert rejected.message == (
        "Order o-1: shipment s-1 is already linked as outbound (dhl, no tracking code); "
        "use a new shipment id."
    )


@pytest.mark.parametrize(
    "change",
    [
        link_shipment("s-1"),
        shipment_status("s-1", ShipmentStatus.IN_TRANSIT),
        cancel_shipment("s-1"),
    ],
    ids=["linked", "status_changed", "cancelled"],
)
def test_shipment_for_unknown_order_is_parked(change: Change) -> None:
    """Rule 9: a shipment event before its order waits, by default for one day."""
    story = Story()

    decision = story.decide(change)

    assert decision == Parked(
        expires_at=at(1) + timedelta(days=1),
        message=(
            "Order o-1 is not known yet; the shipment event waits for it until "
            "2025-03-04T09:01:00+00:00."
        ),
    )


def test_parked_shipment_applies_once_the_order_arrives() -> None:
    """Rule 9: the projector re-decides a parked link after order.created; it then ships."""
    story = Story()
    parked_link = link_shipment("s-1", occurred_at=at(1))
    assert isinstance(story.decide(parked_link), Parked)

    story.accept(create_order(occurred_at=at(2)))
    decision = story.accept(parked_link)

    assert decision.new_view.state is S.SHIPPED
    assert decision.new_view.version == 2


def test_park_ttl_comes_from_the_policy() -> None:
    """Rule 9: the TTL is configurable (park_ttl_seconds)."""
    policy = load_policy({"transitions": DEFAULT_TABLE, "park_ttl_seconds": 5400}, name="fast")
    story = Story(policy)

    decision = story.decide(link_shipment("s-1"))

    assert isinstance(decision, Parked)
    assert decision.expires_at == at(91)
    assert reject_expired_parked(link_shipment("s-1"), policy).message == (
        "Order o-1 of shop shop-1 did not arrive within 1.5 h of this shipment event; "
        "create the order before linking shipments to it."
    )


def test_expired_parked_shipment_is_unknown_order() -> None:
    """Rule 9: past the TTL the parked event is rejected as unknown_order."""
    rejected = reject_expired_parked(link_shipment("s-1"), DEFAULT_POLICY)

    assert rejected.reason is ReasonCode.UNKNOWN_ORDER
    assert rejected.message == (
        "Order o-1 of shop shop-1 did not arrive within 24 h of this shipment event; "
        "create the order before linking shipments to it."
    )


def test_shipment_for_deleted_order_is_unknown_order_not_parked() -> None:
    """Parking is for orders not known yet; a deleted order is gone."""
    story = story_in(S.PAID)
    story.accept(delete_order())

    rejected = story.reject(link_shipment("s-1"))

    assert rejected.reason is ReasonCode.UNKNOWN_ORDER
    assert rejected.message == (
        "Order o-1 of shop shop-1 was deleted; create it with order.created first."
    )


def test_status_of_unknown_shipment_is_unknown_shipment() -> None:
    """A status change needs the shipment linked first."""
    story = story_in(S.SHIPPED)

    rejected = story.reject(shipment_status("s-9", ShipmentStatus.IN_TRANSIT))

    assert rejected.reason is ReasonCode.UNKNOWN_SHIPMENT
    assert rejected.message == "Order o-1 has no shipment s-9; link it with shipment.created first."
    assert story.reject(cancel_shipment("s-9")).reason is ReasonCode.UNKNOWN_SHIPMENT


def test_status_of_cancelled_shipment_is_shipment_cancelled() -> None:
    """A cancelled shipment keeps its status; cancelling it again is a duplicate."""
    story = story_in(S.SHIPPED)
    story.accept(cancel_shipment("s-1"))

    rejected = story.reject(shipment_status("s-1", DELIVERED))

    assert rejected.reason is ReasonCode.SHIPMENT_CANCELLED
    assert rejected.message == (
        "Order o-1: shipment s-1 was cancelled; its status cannot change to 'delivered'."
    )
    assert story.accept(cancel_shipment("s-1")).effect is Effect.DUPLICATE


def test_shipment_status_change_emits_order_updated() -> None:
    """Sequences stay gap-free: a status change without a state move emits OrderUpdated."""
    story = story_in(S.SHIPPED)

    decision = story.accept(
        shipment_status("s-1", ShipmentStatus.IN_TRANSIT, event_id="ev-st", occurred_at=at(70))
    )

    assert decision.emitted == (
        OrderUpdated(
            version=7, cause_event_id="ev-st", occurred_at=at(70), change="shipment_status_changed"
        ),
    )
    assert decision.new_view.shipments[0].status is ShipmentStatus.IN_TRANSIT
    assert decision.new_view.shipments[0].status_at == at(70)
    assert decision.new_view.shipments[0].linked_at == at(50)
    assert story.accept(shipment_status("s-1", ShipmentStatus.IN_TRANSIT)).effect is (
        Effect.DUPLICATE
    )


def test_completed_when_boarding_complete_and_every_outbound_shipment_delivered() -> None:
    """Derived state: the delivery that makes every outbound shipment delivered completes."""
    story = Story()
    story.accept(create_order(boarding_complete=True))
    story.accept(link_shipment("s-1"))
    story.accept(link_shipment("s-2"))
    first = story.accept(shipment_status("s-1", DELIVERED))
    assert first.new_view.state is S.SHIPPED

    decision = story.accept(shipment_status("s-2", DELIVERED, event_id="ev-d2", occurred_at=at(9)))

    assert decision.new_view.state is S.COMPLETED
    assert decision.emitted == (
        StateChanged(
            version=5,
            cause_event_id="ev-d2",
            occurred_at=at(9),
            from_state=S.SHIPPED,
            to_state=S.COMPLETED,
        ),
    )
    assert decision.new_view.history[-1] == HistoryEntry(
        state=S.COMPLETED, occurred_at=at(9), recorded_at=at(5), cause_event_id="ev-d2"
    )


def test_not_completed_while_boarding_incomplete() -> None:
    """Derived state: delivered shipments alone do not complete an order."""
    story = story_in(S.SHIPPED)

    decision = story.accept(shipment_status("s-1", DELIVERED))

    assert decision.new_view.state is S.SHIPPED
    assert [type(fact) for fact in decision.emitted] == [OrderUpdated]


def test_cancelled_outbound_shipment_does_not_block_completion() -> None:
    """Derived state: every outbound shipment that was not cancelled must be delivered."""
    story = Story()
    story.accept(create_order(boarding_complete=True))
    story.accept(link_shipment("s-1"))
    story.accept(link_shipment("s-2"))
    story.accept(shipment_status("s-1", DELIVERED))

    decision = story.accept(cancel_shipment("s-2", event_id="ev-cancel-s2", occurred_at=at(8)))

    assert decision.new_view.state is S.COMPLETED
    assert decision.emitted == (
        StateChanged(
            version=5,
            cause_event_id="ev-cancel-s2",
            occurred_at=at(8),
            from_state=S.SHIPPED,
            to_state=S.COMPLETED,
        ),
    )


def test_not_completed_when_every_outbound_shipment_was_cancelled() -> None:
    """Derived state: nothing delivered, nothing completed; the order stays shipped."""
    story = Story()
    story.accept(create_order(boarding_complete=True))
    story.accept(link_shipment("s-1"))

    decision = story.accept(cancel_shipment("s-1", event_id="ev-cs", occurred_at=at(4)))

    assert decision.new_view.state is S.SHIPPED
    assert decision.emitted == (
        OrderUpdated(
            version=3, cause_event_id="ev-cs", occurred_at=at(4), change="shipment_cancelled"
        ),
    )


def test_return_shipment_does_not_count_for_completion() -> None:
    """Derived state: only outbound shipments must be delivered."""
    story = Story()
    story.accept(create_order(boarding_complete=True))
    story.accept(link_shipment("s-1"))
    story.accept(link_shipment("r-1", RET))

    decision = story.accept(shipment_status("s-1", DELIVERED))

    assert decision.new_view.state is S.COMPLETED


def test_linking_a_delivered_outbound_shipment_ships_and_completes_at_once() -> None:
    """Derived states: one change may emit both moves, all facts at the same version."""
    story = Story()
    story.accept(create_order(boarding_complete=True))

    decision = story.accept(
        link_shipment("s-1", status=DELIVERED, event_id="ev-link", occurred_at=at(40))
    )

    assert decision.emitted == (
        ShipmentLinked(
            version=2,
            cause_event_id="ev-link",
            occurred_at=at(40),
            shipment_id="s-1",
            direction=OUT,
        ),
        StateChanged(
            version=2,
            cause_event_id="ev-link",
            occurred_at=at(40),
            from_state=S.NEW,
            to_state=S.SHIPPED,
        ),
        StateChanged(
            version=2,
            cause_event_id="ev-link",
            occurred_at=at(40),
            from_state=S.SHIPPED,
            to_state=S.COMPLETED,
        ),
    )
    assert [h.state for h in decision.new_view.history] == [S.NEW, S.SHIPPED, S.COMPLETED]
    assert decision.new_view.version == 2


def test_outbound_link_after_completion_is_order_completed() -> None:
    """Beyond rule 9 (docs/lifecycle.md): a completed order takes no further outbound shipment."""
    story = story_in(S.COMPLETED)

    rejected = story.reject(link_shipment("s-2"))

    assert rejected.reason is ReasonCode.ORDER_COMPLETED
    assert rejected.message == (
        "Order o-1 is completed: every outbound shipment was delivered and boarding was "
        "complete; a further outbound shipment needs a new order."
    )
    assert story.accept(link_shipment("r-1", RET)).new_view.state is S.COMPLETED


def test_setting_boarding_completes_a_delivered_order() -> None:
    """Derived state and rule 10: boarding set last completes an order already delivered."""
    story = story_in(S.SHIPPED)
    story.accept(shipment_status("s-1", DELIVERED))

    decision = story.accept(set_boarding(True, event_id="ev-board", occurred_at=at(95)))

    assert decision.new_view.state is S.COMPLETED
    assert [type(fact).__name__ for fact in decision.emitted] == [
        "BoardingCompleted",
        "StateChanged",
    ]
    assert {fact.version for fact in decision.emitted} == {8}


def test_shipped_order_cannot_move_back_by_request() -> None:
    """Rule 2 after shipping: the warehouse's in_preparation is late, the order stays shipped."""
    story = story_in(S.SHIPPED)

    decision = story.accept(request_state(S.IN_PREPARATION, occurred_at=at(45)))

    assert decision.effect is Effect.LATE
    assert decision.new_view.state is S.SHIPPED
