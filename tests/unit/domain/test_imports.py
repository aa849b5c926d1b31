"""order.imported (orderstate backfill): an order created whole, with the history it went
through elsewhere; it only ever creates an order the shop never had."""

from datetime import UTC, datetime

from orderstate.domain import (
    DEFAULT_POLICY,
    Accepted,
    BoardingCompleted,
    Effect,
    ImportedState,
    ImportOrder,
    OrderState,
    ReasonCode,
    Rejected,
    ShipmentDirection,
    ShipmentLink,
    ShipmentStatus,
    StateChanged,
    Tags,
    decide,
)
from tests.unit.domain.factories import (
    ORDER,
    SHOP,
    Story,
    create_order,
    delete_order,
    item,
    order_fields,
    request_state,
)

S = OrderState
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PLACED = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
PAID = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
SHIPPED = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)


def imported(*, emit: bool = False, boarding: bool = False, event_id: str = "imp-1") -> ImportOrder:
    return ImportOrder(
        shop_id=SHOP,
        order_id=ORDER,
        event_id=event_id,
        occurred_at=SHIPPED,
        fields=order_fields(order_date=PLACED),
        items=(item("i-1"),),
        tags=Tags({"channel": "web"}),
        boarding_complete=boarding,
        state=S.SHIPPED,
        history=(
            ImportedState(state=S.NEW, occurred_at=PLACED),
            ImportedState(state=S.PAID, occurred_at=PAID, location="Berlin"),
            ImportedState(state=S.SHIPPED, occurred_at=SHIPPED),
        ),
        shipments=(
            ShipmentLink(
                shipment_id="s-1",
                direction=ShipmentDirection.OUTBOUND,
                status=ShipmentStatus.IN_TRANSIT,
                carrier="dhl",
                linked_at=SHIPPED,
                status_at=SHIPPED,
            ),
        ),
        emit=emit,
    )


def test_an_import_creates_the_order_with_its_history_at_the_original_times() -> None:
    decision = decide(None, imported(), DEFAULT_POLICY, NOW)

    assert isinstance(decision, Accepted)
    view = decision.new_view
    assert (view.state, view.version, view.boarding_complete) == (S.SHIPPED, 1, False)
    assert [(h.state, h.occurred_at, h.location) for h in view.history] == [
        (S.NEW, PLACED, None),
        (S.PAID, PAID, "Berlin"),
        (S.SHIPPED, SHIPPED, None),
    ]
    assert {h.recorded_at for h in view.history} == {NOW}
    assert {h.cause_event_id for h in view.history} == {"imp-1"}
    assert [s.shipment_id for s in view.shipments] == ["s-1"]
    assert view.payment_evidence is True
    assert (view.created_at, view.updated_at) == (NOW, NOW)


def test_without_emit_an_import_publishes_nothing() -> None:
    decision = decide(None, imported(boarding=True), DEFAULT_POLICY, NOW)

    assert isinstance(decision, Accepted)
    assert decision.emitted == ()


def test_with_emit_an_import_publishes_its_creation_flagged_as_backfill() -> None:
    decision = decide(None, imported(emit=True, boarding=True), DEFAULT_POLICY, NOW)

    assert isinstance(decision, Accepted)
    assert decision.emitted == (
        StateChanged(
            version=1,
            cause_event_id="imp-1",
            occurred_at=SHIPPED,
            from_state=None,
            to_state=S.SHIPPED,
            backfill=True,
        ),
        BoardingCompleted(version=1, cause_event_id="imp-1", occurred_at=SHIPPED, backfill=True),
    )


def test_the_same_import_again_is_a_duplicate() -> None:
    first = decide(None, imported(), DEFAULT_POLICY, NOW)
    assert isinstance(first, Accepted)

    again = decide(first.new_view, imported(emit=True), DEFAULT_POLICY, NOW)

    assert isinstance(again, Accepted)
    assert again.effect is Effect.DUPLICATE
    assert again.new_view == first.new_view
    assert again.emitted == ()


def test_an_import_never_overwrites_an_order_the_shop_has() -> None:
    story = Story()
    story.accept(create_order())
    story.accept(request_state(S.PAID))

    decision = decide(story.view, imported(), DEFAULT_POLICY, NOW)

    assert isinstance(decision, Rejected)
    assert decision.reason is ReasonCode.ORDER_EXISTS
    assert "version 2, 'paid'" in decision.message


def test_an_import_of_another_content_is_refused_for_an_order_it_imported() -> None:
    """A second, different line for an order an earlier import created is not a re-run."""
    first = decide(None, imported(event_id="imp-1"), DEFAULT_POLICY, NOW)
    assert isinstance(first, Accepted)

    other = decide(first.new_view, imported(event_id="imp-2"), DEFAULT_POLICY, NOW)

    assert isinstance(other, Rejected)
    assert other.reason is ReasonCode.ORDER_EXISTS


def test_an_import_does_not_bring_back_a_deleted_order() -> None:
    story = Story()
    story.accept(create_order())
    story.accept(delete_order())

    decision = decide(story.view, imported(), DEFAULT_POLICY, NOW)

    assert isinstance(decision, Rejected)
    assert decision.reason is ReasonCode.ORDER_EXISTS
    assert "deleted" in decision.message


def test_an_imported_order_goes_on_under_the_lifecycle_rules() -> None:
    first = decide(None, imported(), DEFAULT_POLICY, NOW)
    assert isinstance(first, Accepted)

    returned = decide(first.new_view, request_state(S.RETURNED), DEFAULT_POLICY, NOW)
    cancelled = decide(first.new_view, request_state(S.CANCELLED), DEFAULT_POLICY, NOW)

    assert isinstance(returned, Accepted)
    assert (returned.new_view.state, returned.new_view.version) == (S.RETURNED, 2)
    assert len(returned.new_view.history) == 4
    assert isinstance(cancelled, Rejected)
    assert cancelled.reason is ReasonCode.CANCEL_AFTER_SHIPMENT
