"""Whole order lives as shop platforms produce them, step by step: the view, the history
and every fact ``decide`` emits."""

from orderstate.domain import (
    Accepted,
    BoardingCompleted,
    Effect,
    HistoryEntry,
    LateEventRecorded,
    OrderState,
    OrderUpdated,
    Rejected,
    ShipmentDirection,
    ShipmentLinked,
    ShipmentStatus,
    StateChanged,
)
from tests.unit.domain.factories import (
    T0,
    Story,
    at,
    create_order,
    link_shipment,
    request_state,
    shipment_status,
)

S = OrderState
OUT = ShipmentDirection.OUTBOUND


def test_spryker_order_is_completed_by_delivery() -> None:
    """Spryker: boarded at creation, one parcel, carrier updates until delivered -> completed."""
    story = Story()

    created = story.accept(create_order(boarding_complete=True, event_id="spryker-1"))
    linked = story.accept(
        link_shipment("s-1", event_id="spryker-2", occurred_at=at(30), tracking_code="JJD000390007")
    )
    in_transit = story.accept(
        shipment_status("s-1", ShipmentStatus.IN_TRANSIT, event_id="spryker-3", occurred_at=at(60))
    )
    out_for_delivery = story.accept(
        shipment_status(
            "s-1", ShipmentStatus.OUT_FOR_DELIVERY, event_id="spryker-4", occurred_at=at(120)
        )
    )
    delivered = story.accept(
        shipment_status("s-1", ShipmentStatus.DELIVERED, event_id="spryker-5", occurred_at=at(180))
    )

    assert [
        (d.new_view.state, d.new_view.version)
        for d in (created, linked, in_transit, out_for_delivery, delivered)
    ] == [(S.NEW, 1), (S.SHIPPED, 2), (S.SHIPPED, 3), (S.SHIPPED, 4), (S.COMPLETED, 5)]
    assert created.emitted == (
        StateChanged(
            version=1, cause_event_id="spryker-1", occurred_at=T0, from_state=None, to_state=S.NEW
        ),
        BoardingCompleted(version=1, cause_event_id="spryker-1", occurred_at=T0),
    )
    assert linked.emitted == (
        ShipmentLinked(
            version=2,
            cause_event_id="spryker-2",
            occurred_at=at(30),
            shipment_id="s-1",
            direction=OUT,
        ),
        StateChanged(
            version=2,
            cause_event_id="spryker-2",
            occurred_at=at(30),
            from_state=S.NEW,
            to_state=S.SHIPPED,
        ),
    )
    assert in_transit.emitted == (
        OrderUpdated(
            version=3,
            cause_event_id="spryker-3",
            occurred_at=at(60),
            change="shipment_status_changed",
        ),
    )
    assert out_for_delivery.emitted == (
        OrderUpdated(
            version=4,
            cause_event_id="spryker-4",
            occurred_at=at(120),
            change="shipment_status_changed",
        ),
    )
    assert delivered.emitted == (
        StateChanged(
            version=5,
            cause_event_id="spryker-5",
            occurred_at=at(180),
            from_state=S.SHIPPED,
            to_state=S.COMPLETED,
        ),
    )
    assert story.order.history == (
        HistoryEntry(state=S.NEW, occurred_at=T0, recorded_at=at(1), cause_event_id="spryker-1"),
        HistoryEntry(
            state=S.SHIPPED, occurred_at=at(30), recorded_at=at(2), cause_event_id="spryker-2"
        ),
        HistoryEntry(
            state=S.COMPLETED, occurred_at=at(180), recorded_at=at(5), cause_event_id="spryker-5"
        ),
    )
    assert story.order.shipments[0].status is ShipmentStatus.DELIVERED
    assert story.order.shipments[0].status_at == at(180)
    assert story.order.boarding_complete is True


def test_woocommerce_late_preparation_after_shipping_is_recorded_not_rejected() -> None:
    """WooCommerce: paid order ships, then the warehouse plugin posts in_preparation: late."""
    story = Story()

    created = story.accept(create_order(state=S.PAID, event_id="woo-1"))
    linked = story.accept(link_shipment("s-1", event_id="woo-2", occurred_at=at(45)))
    late = story.accept(request_state(S.IN_PREPARATION, event_id="woo-3", occurred_at=at(40)))
    posted_again = story.accept(
        request_state(S.IN_PREPARATION, event_id="woo-3", occurred_at=at(40))
    )

    decisions = (created, linked, late, posted_again)
    assert not any(isinstance(d, Rejected) for d in decisions)
    assert [d.effect for d in decisions] == [
        Effect.APPLIED,
        Effect.APPLIED,
        Effect.LATE,
        Effect.DUPLICATE,
    ]
    assert [(d.new_view.state, d.new_view.version) for d in decisions] == [
        (S.PAID, 1),
        (S.SHIPPED, 2),
        (S.SHIPPED, 3),
        (S.SHIPPED, 3),
    ]
    assert created.emitted == (
        StateChanged(
            version=1, cause_event_id="woo-1", occurred_at=T0, from_state=None, to_state=S.PAID
        ),
    )
    assert linked.emitted == (
        ShipmentLinked(
            version=2, cause_event_id="woo-2", occurred_at=at(45), shipment_id="s-1", direction=OUT
        ),
        StateChanged(
            version=2,
            cause_event_id="woo-2",
            occurred_at=at(45),
            from_state=S.PAID,
            to_state=S.SHIPPED,
        ),
    )
    assert late.emitted == (
        LateEventRecorded(
            version=3,
            cause_event_id="woo-3",
            occurred_at=at(40),
            state=S.IN_PREPARATION,
            current_state=S.SHIPPED,
        ),
    )
    assert posted_again.emitted == ()
    assert story.order.history == (
        HistoryEntry(state=S.NEW, occurred_at=T0, recorded_at=at(1), cause_event_id="woo-1"),
        HistoryEntry(state=S.PAID, occurred_at=T0, recorded_at=at(1), cause_event_id="woo-1"),
        HistoryEntry(
            state=S.SHIPPED, occurred_at=at(45), recorded_at=at(2), cause_event_id="woo-2"
        ),
        HistoryEntry(
            state=S.IN_PREPARATION,
            occurred_at=at(40),
            recorded_at=at(3),
            cause_event_id="woo-3",
            late=True,
        ),
    )
    assert story.order.payment_evidence is True


def test_cash_on_delivery_order_is_returned_and_refunded_after_late_payment() -> None:
    """Cash on delivery: skips paid, ships, is returned; the COD payment arrives late; refund."""
    story = Story()
    story.accept(create_order(event_id="cod-1"))
    story.accept(request_state(S.IN_PREPARATION, event_id="cod-2", occurred_at=at(10)))
    story.accept(link_shipment("s-1", event_id="cod-3", occurred_at=at(20)))
    story.accept(request_state(S.RETURNED, event_id="cod-4", occurred_at=at(300)))
    refused = story.decide(request_state(S.REFUNDED, event_id="cod-5", occurred_at=at(301)))
    story.accept(request_state(S.PAID, event_id="cod-6", occurred_at=at(200)))
    refunded = story.decide(request_state(S.REFUNDED, event_id="cod-7", occurred_at=at(302)))

    assert isinstance(refused, Rejected)
    assert refused.reason == "refund_without_payment"
    assert isinstance(refunded, Accepted)
    assert [(h.state, h.late) for h in story.order.history] == [
        (S.NEW, False),
        (S.IN_PREPARATION, False),
        (S.SHIPPED, False),
        (S.RETURNED, False),
        (S.PAID, True),
        (S.REFUNDED, False),
    ]
    assert story.order.version == 6
