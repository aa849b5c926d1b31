"""Rule 10 of docs/lifecycle.md: boarding_complete may be set at creation or later and unset again
until the order is completed; never on a cancelled or refunded order; setting it publishes
``order.boarding_completed``."""

import pytest

from orderstate.domain import (
    BoardingCompleted,
    Effect,
    OrderPatch,
    OrderState,
    OrderUpdated,
    ReasonCode,
    StateChanged,
)
from orderstate.domain.model import history_summary
from tests.unit.domain.factories import (
    T0,
    Story,
    at,
    create_order,
    delete_order,
    request_state,
    set_boarding,
    story_in,
    update_order,
)

S = OrderState


def test_boarding_set_at_creation_emits_boarding_completed() -> None:
    """Rule 10: created with boarding_complete, the order publishes order.boarding_completed."""
    decision = Story().accept(create_order(boarding_complete=True, event_id="ev-create"))

    assert decision.new_view.boarding_complete is True
    assert decision.emitted == (
        StateChanged(
            version=1, cause_event_id="ev-create", occurred_at=T0, from_state=None, to_state=S.NEW
        ),
        BoardingCompleted(version=1, cause_event_id="ev-create", occurred_at=T0),
    )


def test_boarding_not_set_at_creation_emits_only_the_state() -> None:
    """Rule 10: without boarding_complete nothing about boarding is published."""
    decision = Story().accept(create_order())

    assert decision.new_view.boarding_complete is False
    assert [type(fact) for fact in decision.emitted] == [StateChanged]


def test_boarding_set_later_emits_boarding_completed() -> None:
    """Rule 10: set after creation, on any open order."""
    story = story_in(S.PAID)

    decision = story.accept(set_boarding(True, event_id="ev-board", occurred_at=at(30)))

    assert decision.effect is Effect.APPLIED
    assert decision.new_view.boarding_complete is True
    assert decision.new_view.version == 3
    assert decision.emitted == (
        BoardingCompleted(version=3, cause_event_id="ev-board", occurred_at=at(30)),
    )


@pytest.mark.parametrize(("current", "version"), [(S.NEW, 3), (S.PAID, 4), (S.SHIPPED, 8)])
def test_boarding_unset_again_before_completion(current: OrderState, version: int) -> None:
    """Rule 10: unsetting publishes no boarding fact, only OrderUpdated for a gap-free sequence."""
    story = story_in(current)
    story.accept(set_boarding(True))

    decision = story.accept(set_boarding(False, event_id="ev-unboard", occurred_at=at(60)))

    assert decision.new_view.boarding_complete is False
    assert decision.emitted == (
        OrderUpdated(
            version=version, cause_event_id="ev-unboard", occurred_at=at(60), change="boarding_set"
        ),
    )


def test_boarding_repeat_is_a_noop() -> None:
    """Rule 3 for boarding: the same value again changes nothing."""
    story = story_in(S.PAID)
    story.accept(set_boarding(True))
    view = story.order

    decision = story.accept(set_boarding(True))

    assert decision.effect is Effect.DUPLICATE
    assert decision.emitted == ()
    assert decision.new_view == view


@pytest.mark.parametrize("closed", [S.CANCELLED, S.REFUNDED])
@pytest.mark.parametrize("value", [True, False])
def test_boarding_change_on_cancelled_or_refunded_order_is_order_closed(
    closed: OrderState, value: bool
) -> None:
    """Rule 10: boarding cannot change on a cancelled or refunded order, either way."""
    story = Story()
    story.accept(create_order(boarding_complete=not value))
    story.accept(request_state(S.PAID))
    story.accept(request_state(S.CANCELLED))
    if closed is S.REFUNDED:
        story.accept(request_state(S.REFUNDED))
    view = story.order

    rejected = story.reject(set_boarding(value))

    assert rejected.reason is ReasonCode.ORDER_CLOSED
    assert rejected.message == (
        f"Order o-1 is '{closed.value}'; boarding_complete can no longer change."
    )
    assert story.order == view


def test_boarding_repeat_on_cancelled_order_is_a_duplicate() -> None:
    """Rules 3 and 10: sending the value the order already has is no change, so no rejection."""
    story = story_in(S.CANCELLED)

    assert story.accept(set_boarding(False)).effect is Effect.DUPLICATE


def test_boarding_change_after_completion_is_order_completed() -> None:
    """Rule 10: once completed, boarding_complete is frozen."""
    story = story_in(S.COMPLETED)
    view = story.order

    rejected = story.reject(set_boarding(False))

    assert rejected.reason is ReasonCode.ORDER_COMPLETED
    assert rejected.message == "Order o-1 was completed; boarding_complete can no longer change."
    assert story.order == view


def test_boarding_may_change_on_returned_order_that_never_completed() -> None:
    """Rule 10 names cancelled, refunded and completion only; returned-while-shipped may change."""
    story = story_in(S.RETURNED)

    decision = story.accept(set_boarding(True))

    assert [type(fact) for fact in decision.emitted] == [BoardingCompleted]
    assert decision.new_view.state is S.RETURNED


def test_boarding_cannot_change_after_completion_even_once_returned() -> None:
    """Rule 10: 'after completion' still holds when the completed order was later returned."""
    story = story_in(S.COMPLETED)
    story.accept(request_state(S.RETURNED))

    rejected = story.reject(set_boarding(False))

    assert rejected.reason is ReasonCode.ORDER_COMPLETED


def test_a_completed_order_deleted_and_created_again_starts_unfrozen() -> None:
    """Rule 10 freezes boarding after completion of *this* order: the new incarnation of a
    deleted one starts open (it inherited "was completed", and so could never complete)."""
    story = story_in(S.COMPLETED)
    story.accept(delete_order())
    story.accept(create_order(event_id="ev-again", occurred_at=at(90)))
    assert (story.order.state, story.order.completed_once) == (S.NEW, False)

    decision = story.accept(set_boarding(True))

    assert [type(fact) for fact in decision.emitted] == [BoardingCompleted]
    # The history keeps both incarnations; its summary (what a view rebuilt from it holds)
    # says the same.
    assert [e.state for e in story.order.history].count(S.COMPLETED) == 1
    assert history_summary(story.order.history)["completed_once"] is False


def test_boarding_in_order_update_publishes_boarding_completed() -> None:
    """Rule 10 through order.updated: the patch field behaves as order.boarding_completed."""
    story = story_in(S.PAID)

    decision = story.accept(
        update_order(OrderPatch(boarding_complete=True), event_id="ev-upd", occurred_at=at(30))
    )

    assert decision.new_view.boarding_complete is True
    assert decision.emitted == (
        BoardingCompleted(version=3, cause_event_id="ev-upd", occurred_at=at(30)),
    )


@pytest.mark.parametrize(
    ("current", "reason"),
    [
        (S.CANCELLED, ReasonCode.ORDER_CLOSED),
        (S.REFUNDED, ReasonCode.ORDER_CLOSED),
        (S.COMPLETED, ReasonCode.ORDER_COMPLETED),
    ],
)
def test_boarding_in_order_update_obeys_rule_10(current: OrderState, reason: ReasonCode) -> None:
    """Rule 10 through order.updated: the whole update is refused, other fields included."""
    story = story_in(current)
    view = story.order

    rejected = story.reject(
        update_order(OrderPatch(language="fr", boarding_complete=current is not S.COMPLETED))
    )

    assert rejected.reason is reason
    assert story.order == view
