"""Deciding an order's events again without writing: the outcomes the worker would record."""

from datetime import UTC, datetime, timedelta

from orderstate.domain import (
    Change,
    OrderState,
    PolicyBook,
    ReasonCode,
    load_policy_book,
)
from orderstate.events.decode import decode_event
from orderstate.events.envelope import API_SOURCE, CloudEvent
from orderstate.events.registry import INBOUND_TYPES
from orderstate.repair.replay import Outcome, Step, replay_order
from tests.support.events import created, event, shipment, state
from tests.unit.domain.factories import STRICT_TABLE

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STRICT = load_policy_book({"shops": {"shop-1": {"transitions": STRICT_TABLE}}}).for_shop("shop-1")
DEFAULT = PolicyBook().default


def _change(ev: CloudEvent) -> Change:
    return decode_event(ev, INBOUND_TYPES[ev.type].topic).change


def _steps(*events: CloudEvent) -> list[Step]:
    return [
        Step(_change(e), NOW + timedelta(seconds=n), from_api=e.source == API_SOURCE)
        for n, e in enumerate(events)
    ]


def test_a_stricter_policy_rejects_a_skip_and_the_chain_follows_from_there() -> None:
    events = _steps(created(), state("in_preparation", minutes=1), state("cancelled", minutes=2))

    default, after_default = replay_order(None, events, DEFAULT)
    strict, after_strict = replay_order(None, events, STRICT)

    assert [o.label for o in default] == ["applied", "applied", "applied"]
    assert [o.state for o in default] == [
        OrderState.NEW,
        OrderState.IN_PREPARATION,
        OrderState.CANCELLED,
    ]
    assert strict == [
        Outcome("applied", None, OrderState.NEW),
        Outcome("rejected", ReasonCode.TRANSITION_NOT_ALLOWED, OrderState.NEW),
        Outcome("applied", None, OrderState.CANCELLED),
    ]
    assert after_default is not None and after_strict is not None
    # The cancellation met an order in preparation under one policy and a new one under the
    # other: the chain was decided again, not each event against a recorded state.
    assert [h.state for h in after_strict.history] == [OrderState.NEW, OrderState.CANCELLED]


def test_a_shipment_before_its_order_waits_and_is_decided_when_the_order_comes() -> None:
    outcomes, after = replay_order(None, _steps(shipment("S1"), created()), DEFAULT)

    assert [o.label for o in outcomes] == ["parked_then_applied", "applied"]
    assert after is not None and after.state is OrderState.SHIPPED


def test_a_rest_change_for_an_unknown_order_is_rejected_not_parked() -> None:
    from_api = event(
        "shipment.created", {"shipment_id": "S1", "direction": "outbound"}, source=API_SOURCE
    )

    outcomes, after = replay_order(None, _steps(from_api), DEFAULT)

    assert outcomes == [Outcome("rejected", ReasonCode.UNKNOWN_ORDER, None)]
    assert after is None


def test_a_duplicate_changes_nothing_and_a_late_state_is_recorded() -> None:
    events = _steps(
        created(),
        state("in_preparation", minutes=2),
        state("in_preparation", minutes=3),
        state("paid", minutes=1),
    )

    outcomes, after = replay_order(None, events, DEFAULT)

    assert [o.label for o in outcomes] == ["applied", "applied", "duplicate", "late"]
    assert after is not None
    assert after.state is OrderState.IN_PREPARATION
    assert after.payment_evidence
