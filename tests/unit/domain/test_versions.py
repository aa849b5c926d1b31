"""Rule 11 of docs/lifecycle.md, versions and existence: expected_version, creation with an initial
state, deletion and re-creation, and a gap-free version sequence on the emitted facts."""

import pytest

from orderstate.domain import (
    DEFAULT_POLICY,
    Change,
    Effect,
    HistoryEntry,
    ItemPatch,
    OrderDeleted,
    OrderPatch,
    OrderState,
    ReasonCode,
    ShipmentStatus,
    StateChanged,
    decide,
    load_policy,
)
from tests.unit.domain.factories import (
    STRICT_TABLE,
    T0,
    Story,
    add_item,
    at,
    create_order,
    delete_order,
    item,
    link_shipment,
    remove_item,
    request_state,
    set_boarding,
    set_tags,
    shipment_status,
    story_in,
    update_item,
    update_order,
)

S = OrderState


def test_expected_version_mismatch_is_version_conflict() -> None:
    """Rule 11: a change that expects another version is refused and changes nothing."""
    story = story_in(S.PAID)
    view = story.order

    rejected = story.reject(request_state(S.IN_PRODUCTION, expected_version=1))

    assert rejected.reason is ReasonCode.VERSION_CONFLICT
    assert rejected.message == (
        "Order o-1 is at version 2, the change expected version 1; read the order again and retry."
    )
    assert story.order == view


def test_expected_version_match_applies() -> None:
    """Rule 11: the expected version matches, the change applies."""
    story = story_in(S.PAID)

    decision = story.accept(request_state(S.IN_PRODUCTION, expected_version=2))

    assert decision.new_view.version == 3


def test_expected_version_is_checked_for_every_kind_of_change() -> None:
    """Rule 11 holds for data changes too, not just state requests."""
    story = story_in(S.SHIPPED)

    stale = [
        set_tags({"a": "1"}, expected_version=5),
        add_item(item("i-1"), expected_version=5),
        set_boarding(True, expected_version=5),
        shipment_status("s-1", ShipmentStatus.DELIVERED, expected_version=5),
        update_order(OrderPatch(language="fr"), expected_version=5),
        delete_order(expected_version=5),
    ]
    assert [story.reject(change).reason for change in stale] == ["version_conflict"] * 6
    assert story.order.version == 6


def test_expected_version_is_checked_before_duplicates() -> None:
    """Rule 11 first: a repeat that carries a stale version is a conflict, not a duplicate."""
    story = story_in(S.PAID)

    rejected = story.reject(request_state(S.PAID, expected_version=1))

    assert rejected.reason is ReasonCode.VERSION_CONFLICT


def test_expected_version_on_create_of_an_existing_order() -> None:
    """Rule 11 for creation: re-creating an existing order at another version is a conflict."""
    story = story_in(S.PAID)

    assert story.reject(create_order(expected_version=7)).reason is ReasonCode.VERSION_CONFLICT
    assert story.accept(create_order(expected_version=2)).effect is Effect.DUPLICATE


def test_created_order_starts_new_at_version_one() -> None:
    """Creation: the order starts in 'new', version 1, one history entry at its order date."""
    story = Story()

    decision = story.accept(create_order(event_id="ev-create", occurred_at=at(2)))

    view = decision.new_view
    assert (view.state, view.version, view.payment_evidence, view.deleted) == (
        S.NEW,
        1,
        False,
        False,
    )
    assert view.history == (
        HistoryEntry(state=S.NEW, occurred_at=T0, recorded_at=at(1), cause_event_id="ev-create"),
    )
    assert (view.created_at, view.updated_at) == (at(1), at(1))
    assert decision.emitted == (
        StateChanged(
            version=1,
            cause_event_id="ev-create",
            occurred_at=at(2),
            from_state=None,
            to_state=S.NEW,
        ),
    )


@pytest.mark.parametrize(
    ("initial", "payment_evidence"),
    [
        (S.NEW, False),
        (S.PAID, True),
        (S.IN_PRODUCTION, False),
        (S.WAREHOUSE_HANDOVER, False),
        (S.IN_PREPARATION, False),
        (S.CANCELLED, False),
    ],
)
def test_order_may_be_created_in_any_state_the_policy_allows_after_new(
    initial: OrderState, payment_evidence: bool
) -> None:
    """Creation with a state: history shows new, then the given state; one fact from None."""
    story = Story()

    decision = story.accept(create_order(state=initial, event_id="ev-create", occurred_at=at(2)))

    assert decision.new_view.state is initial
    assert decision.new_view.version == 1
    assert decision.new_view.payment_evidence is payment_evidence
    expected_history = [(S.NEW, T0)] if initial is S.NEW else [(S.NEW, T0), (initial, at(2))]
    assert [(h.state, h.occurred_at) for h in decision.new_view.history] == expected_history
    assert decision.emitted == (
        StateChanged(
            version=1,
            cause_event_id="ev-create",
            occurred_at=at(2),
            from_state=None,
            to_state=initial,
        ),
    )


@pytest.mark.parametrize(
    ("initial", "reason", "message"),
    [
        (
            S.SHIPPED,
            "state_not_settable",
            "Order o-1: an order cannot be created as 'shipped'; orderstate derives it.",
        ),
        (
            S.COMPLETED,
            "state_not_settable",
            "Order o-1: an order cannot be created as 'completed'; orderstate derives it.",
        ),
        (
            S.RETURNED,
            "return_without_shipment",
            "Order o-1: an order cannot be created as 'returned'; nothing was shipped.",
        ),
        (
            S.REFUNDED,
            "refund_before_return_or_cancel",
            "Order o-1: an order cannot be created as 'refunded'; it must be returned or "
            "cancelled first.",
        ),
    ],
)
def test_order_cannot_be_created_in_a_state_that_needs_a_past(
    initial: OrderState, reason: str, message: str
) -> None:
    """Creation: rules 4, 6 and 7 apply to the initial state as to any request."""
    rejected = Story().reject(create_order(state=initial))

    assert rejected.reason == reason
    assert rejected.message == message


def test_strict_shop_cannot_create_an_order_past_its_first_step() -> None:
    """Creation under a shop table: only new and what may follow new are initial states."""
    policy = load_policy({"transitions": STRICT_TABLE}, name="shop strict")

    rejected = Story(policy).reject(create_order(state=S.IN_PREPARATION))

    assert rejected.reason is ReasonCode.TRANSITION_NOT_ALLOWED
    assert rejected.message == (
        "Order o-1: policy 'shop strict' does not allow creating an order as 'in_preparation'; "
        "allowed initial states: new, paid, cancelled."
    )


def test_change_to_unknown_order_is_unknown_order() -> None:
    """Existence: anything but creation (and parked shipments) needs the order."""
    story = Story()

    rejected = story.reject(request_state(S.PAID))

    assert rejected.reason is ReasonCode.UNKNOWN_ORDER
    assert rejected.message == (
        "Order o-1 of shop shop-1 does not exist; create it with order.created first."
    )


def test_delete_marks_the_order_deleted_and_publishes_it() -> None:
    """Deletion keeps the row (and its version) and publishes OrderDeleted."""
    story = story_in(S.PAID)

    decision = story.accept(delete_order(event_id="ev-del", occurred_at=at(50)))

    assert decision.new_view.deleted is True
    assert decision.new_view.version == 3
    assert decision.emitted == (
        OrderDeleted(version=3, cause_event_id="ev-del", occurred_at=at(50)),
    )


@pytest.mark.parametrize(
    "change",
    [
        request_state(S.IN_PRODUCTION),
        set_tags({"a": "1"}),
        add_item(item("i-2")),
        update_item("i-1", ItemPatch(quantity=2)),
        remove_item("i-1"),
        set_boarding(True),
        update_order(OrderPatch(language="fr")),
        delete_order(),
    ],
    ids=lambda change: type(change).__name__,
)
def test_deleted_order_is_unknown_order(change: Change) -> None:
    """Deletion: after it, every change except re-creation is unknown_order."""
    story = story_in(S.PAID)
    story.accept(delete_order())

    rejected = story.reject(change)

    assert rejected.reason is ReasonCode.UNKNOWN_ORDER
    assert rejected.message == (
        "Order o-1 of shop shop-1 was deleted; create it with order.created first."
    )


def test_recreated_order_continues_the_version() -> None:
    """Deletion then creation: versions (outbound sequences) never restart; history is kept."""
    story = story_in(S.PAID)
    story.accept(link_shipment("s-1"))
    story.accept(delete_order())

    decision = story.accept(create_order(event_id="ev-again", occurred_at=at(90)))

    view = decision.new_view
    assert (view.state, view.version, view.deleted, view.shipments) == (S.NEW, 5, False, ())
    assert decision.emitted == (
        StateChanged(
            version=5,
            cause_event_id="ev-again",
            occurred_at=at(90),
            from_state=None,
            to_state=S.NEW,
        ),
    )
    assert [h.state for h in view.history] == [S.NEW, S.PAID, S.SHIPPED, S.NEW]
    assert view.payment_evidence is False


def test_versions_and_sequences_are_gap_free() -> None:
    """Every accepted change emits at least one fact carrying the new version: 1, 2, 3, ..."""
    story = Story()
    changes = [
        create_order(items=(item("i-1"),), boarding_complete=True),
        request_state(S.PAID),
        set_tags({"channel": "web"}),
        add_item(item("i-2")),
        update_item("i-2", ItemPatch(quantity=2)),
        remove_item("i-1"),
        update_order(OrderPatch(language="en")),
        set_boarding(False),
        set_boarding(True),
        request_state(S.IN_PREPARATION),
        request_state(S.NEW, occurred_at=at(3)),
        link_shipment("s-1"),
        shipment_status("s-1", ShipmentStatus.IN_TRANSIT),
        shipment_status("s-1", ShipmentStatus.DELIVERED),
        request_state(S.RETURNED),
        request_state(S.REFUNDED),
    ]

    versions = []
    for change in changes:
        decision = story.accept(change)
        assert decision.emitted, change
        versions.append(sorted({fact.version for fact in decision.emitted}))

    assert versions == [[v] for v in range(1, 17)]
    assert story.order.state is S.REFUNDED


def test_decide_refuses_the_view_of_another_order() -> None:
    """A caller bug, not a rejection: the view and the change must name the same order."""
    view = Story().accept(create_order()).new_view
    other = request_state(S.PAID).model_copy(update={"order_id": "o-2"})

    with pytest.raises(ValueError, match="got the view of shop-1:o-1 for a change to shop-1:o-2"):
        decide(view, other, DEFAULT_POLICY, at(5))
