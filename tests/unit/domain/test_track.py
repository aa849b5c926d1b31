"""Rules 1-4 and 8 of docs/lifecycle.md: moving along the track, late states,
duplicates, derived states, and track states that arrive after the order closed."""

import pytest

from orderstate.domain import (
    Effect,
    HistoryEntry,
    LateEventRecorded,
    OrderState,
    ReasonCode,
    StateChanged,
)
from tests.unit.domain.factories import (
    T0,
    Story,
    at,
    create_order,
    request_state,
    story_in,
)

S = OrderState


def test_forward_move_applies_and_may_skip_states() -> None:
    """Rule 1: cash on delivery goes new -> in_preparation in one move."""
    story = Story()
    story.accept(create_order(event_id="ev-create"))

    decision = story.accept(
        request_state(S.IN_PREPARATION, event_id="ev-cod", occurred_at=at(30), location="Berlin")
    )

    assert decision.effect is Effect.APPLIED
    assert decision.new_view.state is S.IN_PREPARATION
    assert decision.new_view.version == 2
    assert decision.emitted == (
        StateChanged(
            version=2,
            cause_event_id="ev-cod",
            occurred_at=at(30),
            from_state=S.NEW,
            to_state=S.IN_PREPARATION,
        ),
    )
    assert decision.new_view.history == (
        HistoryEntry(state=S.NEW, occurred_at=T0, recorded_at=at(1), cause_event_id="ev-create"),
        HistoryEntry(
            state=S.IN_PREPARATION,
            occurred_at=at(30),
            recorded_at=at(2),
            cause_event_id="ev-cod",
            location="Berlin",
        ),
    )
    assert decision.new_view.payment_evidence is False
    assert decision.new_view.updated_at == at(2)


def test_forward_moves_one_step_at_a_time_apply() -> None:
    """Rule 1: every single step along the track applies and bumps the version by one."""
    story = Story()
    story.accept(create_order())

    for expected_version, state in enumerate(
        (S.PAID, S.IN_PRODUCTION, S.WAREHOUSE_HANDOVER, S.IN_PREPARATION), start=2
    ):
        decision = story.accept(request_state(state))
        assert decision.effect is Effect.APPLIED
        assert (decision.new_view.state, decision.new_view.version) == (state, expected_version)

    assert [h.state for h in story.order.history] == [
        S.NEW,
        S.PAID,
        S.IN_PRODUCTION,
        S.WAREHOUSE_HANDOVER,
        S.IN_PREPARATION,
    ]


def test_paid_is_payment_evidence() -> None:
    """Rule 7's evidence: an applied 'paid' marks the order as paid."""
    story = Story()
    story.accept(create_order())

    assert story.accept(request_state(S.PAID)).new_view.payment_evidence is True


def test_state_behind_current_is_recorded_late_and_kept() -> None:
    """Rule 2: a state below the current one is kept in history marked late; the state stays."""
    story = Story()
    story.accept(create_order(event_id="ev-create"))
    story.accept(request_state(S.IN_PREPARATION, event_id="ev-prep", occurred_at=at(30)))

    decision = story.accept(
        request_state(S.PAID, event_id="ev-pay", occurred_at=at(5), location="PSP")
    )

    assert decision.effect is Effect.LATE
    assert decision.new_view.state is S.IN_PREPARATION
    assert decision.new_view.version == 3
    assert decision.emitted == (
        LateEventRecorded(
            version=3,
            cause_event_id="ev-pay",
            occurred_at=at(5),
            state=S.PAID,
            current_state=S.IN_PREPARATION,
        ),
    )
    assert decision.new_view.history[-1] == HistoryEntry(
        state=S.PAID,
        occurred_at=at(5),
        recorded_at=at(3),
        cause_event_id="ev-pay",
        late=True,
        location="PSP",
    )
    assert len(decision.new_view.history) == 3


def test_late_paid_counts_as_payment_evidence() -> None:
    """Rules 2 and 7: a late 'paid' proves payment, so the order can later be refunded."""
    story = Story()
    story.accept(create_order())
    story.accept(request_state(S.IN_PREPARATION, occurred_at=at(30)))
    assert story.order.payment_evidence is False

    late = story.accept(request_state(S.PAID, occurred_at=at(5)))
    assert late.effect is Effect.LATE
    assert late.new_view.payment_evidence is True

    story.accept(request_state(S.CANCELLED))
    refunded = story.accept(request_state(S.REFUNDED))
    assert refunded.effect is Effect.APPLIED
    assert refunded.new_view.state is S.REFUNDED


def test_late_state_redelivered_is_a_duplicate() -> None:
    """Rules 2 and 3: the same late event again (same id, or same state and time) is a no-op."""
    story = story_in(S.IN_PREPARATION)
    story.accept(request_state(S.PAID, event_id="ev-late", occurred_at=at(5)))
    view = story.order

    same_id = story.accept(request_state(S.PAID, event_id="ev-late", occurred_at=at(5)))
    same_content = story.accept(request_state(S.PAID, event_id="ev-other", occurred_at=at(5)))

    for decision in (same_id, same_content):
        assert decision.effect is Effect.DUPLICATE
        assert decision.emitted == ()
        assert decision.new_view == view


def test_late_state_at_another_time_is_recorded_again() -> None:
    """Rule 2: a second late report of the same state at another time is history too."""
    story = story_in(S.IN_PREPARATION)
    story.accept(request_state(S.PAID, occurred_at=at(5)))

    decision = story.accept(request_state(S.PAID, occurred_at=at(6)))

    assert decision.effect is Effect.LATE
    assert [(h.state, h.occurred_at, h.late) for h in decision.new_view.history[-2:]] == [
        (S.PAID, at(5), True),
        (S.PAID, at(6), True),
    ]


def test_repeating_current_state_is_a_noop() -> None:
    """Rule 3: the current state again changes nothing and emits nothing."""
    story = Story()
    story.accept(create_order())
    story.accept(request_state(S.PAID, event_id="ev-pay-1"))
    view = story.order

    decision = story.accept(request_state(S.PAID, event_id="ev-pay-2", occurred_at=at(9)))

    assert decision.effect is Effect.DUPLICATE
    assert decision.emitted == ()
    assert decision.new_view == view
    assert decision.new_view.version == 2


def test_redelivered_state_event_is_a_noop_after_later_moves() -> None:
    """Rule 3: a state already recorded at the same time is a duplicate, not a late state."""
    story = Story()
    story.accept(create_order())
    story.accept(request_state(S.PAID, event_id="ev-pay"))
    story.accept(request_state(S.IN_PRODUCTION))
    view = story.order

    decision = story.accept(request_state(S.PAID, event_id="ev-pay"))

    assert decision.effect is Effect.DUPLICATE
    assert decision.new_view == view


@pytest.mark.parametrize("derived", [S.SHIPPED, S.COMPLETED])
def test_shipped_and_completed_cannot_be_requested(derived: OrderState) -> None:
    """Rule 4: only the service derives shipped and completed; the message says what may follow."""
    story = Story()
    story.accept(create_order())

    rejected = story.reject(request_state(derived))

    assert rejected.reason.value == "state_not_settable"
    assert f"Order o-1: '{derived.value}' cannot be requested" in rejected.message
    assert rejected.message.endswith(
        "The order is 'new'; allowed next states: "
        "paid, in_production, warehouse_handover, in_preparation, cancelled."
    )
    assert story.order.version == 1


@pytest.mark.parametrize("derived", [S.SHIPPED, S.COMPLETED])
def test_derived_state_cannot_be_requested_even_when_it_is_current(derived: OrderState) -> None:
    """Rule 4 comes before rule 3: requesting 'shipped' on a shipped order is still refused."""
    story = story_in(derived)

    rejected = story.reject(request_state(derived))

    assert rejected.reason is ReasonCode.STATE_NOT_SETTABLE
    assert rejected.message.endswith(
        f"The order is '{derived.value}'; allowed next states: returned."
    )


@pytest.mark.parametrize(
    "closed", [S.CANCELLED, S.RETURNED, S.REFUNDED], ids=["cancelled", "returned", "refunded"]
)
@pytest.mark.parametrize(
    "track_state",
    [S.NEW, S.PAID, S.IN_PRODUCTION, S.WAREHOUSE_HANDOVER, S.IN_PREPARATION],
)
def test_track_state_after_close_is_late(closed: OrderState, track_state: OrderState) -> None:
    """Rule 8: a track state after cancelled, returned or refunded is late: kept, not applied."""
    story = story_in(closed)
    version = story.order.version

    decision = story.accept(request_state(track_state, occurred_at=at(2)))

    assert decision.effect is Effect.LATE
    assert decision.new_view.state is closed
    assert decision.new_view.version == version + 1
    assert decision.new_view.history[-1].late is True
    assert decision.new_view.history[-1].state is track_state


def test_track_state_after_cancel_is_late() -> None:
    """Rule 8: the warehouse reports in_preparation after the shop cancelled: recorded late."""
    story = Story()
    story.accept(create_order())
    story.accept(request_state(S.CANCELLED, occurred_at=at(20)))

    decision = story.accept(
        request_state(S.IN_PREPARATION, event_id="ev-warehouse", occurred_at=at(15))
    )

    assert decision.effect is Effect.LATE
    assert decision.new_view.state is S.CANCELLED
    assert decision.emitted == (
        LateEventRecorded(
            version=3,
            cause_event_id="ev-warehouse",
            occurred_at=at(15),
            state=S.IN_PREPARATION,
            current_state=S.CANCELLED,
        ),
    )


@pytest.mark.parametrize(
    ("closed", "requested", "allowed_text"),
    [
        (S.CANCELLED, S.RETURNED, "allowed next states: refunded"),
        (S.RETURNED, S.CANCELLED, "allowed next states: refunded"),
        (S.REFUNDED, S.CANCELLED, "no state may follow refunded"),
        (S.REFUNDED, S.RETURNED, "no state may follow refunded"),
    ],
)
def test_other_state_after_close_is_order_closed(
    closed: OrderState, requested: OrderState, allowed_text: str
) -> None:
    """Rule 8: cancelled and returned lead only to refunded, refunded leads nowhere."""
    story = story_in(closed)
    view = story.order

    rejected = story.reject(request_state(requested))

    assert rejected.reason is ReasonCode.ORDER_CLOSED
    assert rejected.message == (
        f"Order o-1 is '{closed.value}'; '{requested.value}' cannot follow it: "
        f"the order is closed; {allowed_text}."
    )
    assert story.order == view


@pytest.mark.parametrize(("closed", "version"), [(S.CANCELLED, 4), (S.RETURNED, 8)])
def test_cancelled_and_returned_lead_to_refunded(closed: OrderState, version: int) -> None:
    """Rules 7 and 8: refunded is the one way out of cancelled and returned."""
    story = story_in(closed)

    decision = story.accept(request_state(S.REFUNDED, event_id="ev-refund", occurred_at=at(99)))

    assert decision.effect is Effect.APPLIED
    assert decision.new_view.state is S.REFUNDED
    assert decision.emitted == (
        StateChanged(
            version=version,
            cause_event_id="ev-refund",
            occurred_at=at(99),
            from_state=closed,
            to_state=S.REFUNDED,
        ),
    )
