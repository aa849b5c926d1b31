"""What a proposed policy decides differently, order by order."""

from datetime import UTC, datetime

from orderstate.domain import OrderState, OrderView, PolicyBook, ReasonCode, load_policy_book
from orderstate.events.decode import Decoded, decode_event
from orderstate.events.envelope import CloudEvent
from orderstate.events.registry import INBOUND_TYPES
from orderstate.repair.policy_diff import OrderWindow, compare
from orderstate.repair.replay import Step, replay_order
from tests.support.events import created, state
from tests.unit.domain.factories import STRICT_TABLE

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DEFAULT = PolicyBook()
STRICT = load_policy_book({"shops": {"shop-1": {"transitions": STRICT_TABLE}}})


def _decoded(ev: CloudEvent) -> Decoded:
    return decode_event(ev, INBOUND_TYPES[ev.type].topic)


def _window(order: str, *events: CloudEvent, before: OrderView | None = None) -> OrderWindow:
    decoded = [_decoded(e) for e in events]
    return OrderWindow("shop-1", order, before, [(d, Step(d.change, NOW)) for d in decoded])


def test_a_stricter_policy_reports_the_skips_it_would_reject() -> None:
    skip = state("in_preparation", order="A", minutes=1)
    windows = [
        _window("A", created(order="A"), skip),
        _window("B", created(order="B"), state("paid", order="B")),
    ]

    result = compare(windows, DEFAULT, STRICT)

    assert [
        (d.order_id, d.event_id, d.current.label, d.proposed.label) for d in result.differences
    ] == [("A", skip.id, "applied", "rejected transition_not_allowed")]
    assert result.counts() == [("shop-1", "applied", "rejected transition_not_allowed", 1)]
    assert result.orders["shop-1"] == 2
    assert result.events["shop-1"] == 4


def test_a_looser_policy_reports_what_it_would_accept() -> None:
    skip = state("in_preparation", order="A", minutes=1)

    result = compare([_window("A", created(order="A"), skip)], STRICT, DEFAULT)

    (difference,) = result.differences
    assert (difference.current.reason, difference.proposed.reason) == (
        ReasonCode.TRANSITION_NOT_ALLOWED,
        None,
    )
    assert difference.proposed.state is OrderState.IN_PREPARATION


def test_the_same_policy_decides_nothing_differently() -> None:
    windows = [_window("A", created(order="A"), state("in_preparation", order="A"))]

    assert compare(windows, STRICT, STRICT).differences == []
    assert compare(windows, DEFAULT, load_policy_book({})).differences == []


def test_an_order_starts_from_its_state_before_the_window() -> None:
    # Paid before the window. Judged from nothing, in_preparation would be unknown_order under
    # both policies (no difference); from "paid" the strict table refuses the skip.
    (_, before) = replay_order(
        None,
        [Step(_decoded(e).change, NOW) for e in (created(order="A"), state("paid", order="A"))],
        DEFAULT.default,
    )
    skip = state("in_preparation", order="A", minutes=2)

    result = compare([_window("A", skip, before=before)], DEFAULT, STRICT)

    assert [(d.current.label, d.proposed.label) for d in result.differences] == [
        ("applied", "rejected transition_not_allowed")
    ]
    assert result.differences[0].current.state is OrderState.IN_PREPARATION
    assert result.differences[0].proposed.state is OrderState.PAID
