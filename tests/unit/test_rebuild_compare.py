"""What `orderstate verify` counts as a difference of one order (orderstate.rebuild.compare)."""

import json

from orderstate.rebuild.compare import PARTS, order_differences, rejection_identity


def _order(**parts: object) -> dict[str, object]:
    base: dict[str, object] = {
        "view": {"state": "paid", "version": 2, "last_sequence": 2},
        "history": {1: {"state": "new"}, 2: {"state": "paid"}},
        "events": {1: {"type": "order.created"}, 2: {"type": "order.state_changed"}},
    }
    base.update(parts)
    return base


def test_equal_orders_have_no_difference() -> None:
    assert order_differences(_order(), _order(), list(PARTS)) == []


def test_each_differing_field_is_named_with_both_values() -> None:
    rebuilt = _order(
        view={"state": "new", "version": 2, "last_sequence": 2},
        history={1: {"state": "new"}},
    )
    found = order_differences(_order(), rebuilt, list(PARTS))
    assert [(f.name, f.live, f.rebuilt) for f in found] == [
        ("view.state", "paid", "new"),
        ("history[2]", {"state": "paid"}, None),
    ]
    assert order_differences(_order(), rebuilt, ["events", "tags"]) == []


def test_history_entries_sort_by_number_not_by_text() -> None:
    live = _order(history={n: {"state": "new"} for n in (2, 10)})
    found = order_differences(live, _order(history={}), ["history"])
    assert [f.name for f in found] == ["history[2]", "history[10]"]


def test_the_event_log_is_compared_from_the_first_event_the_live_database_kept() -> None:
    live = _order(events={3: {"type": "order.updated"}})
    rebuilt = _order(
        events={n: {"type": t} for n, t in ((1, "order.created"), (3, "order.updated"))}
    )
    assert order_differences(live, rebuilt, ["events"]) == []
    assert order_differences(_order(events={}), rebuilt, ["events"]) == []
    other = _order(events={3: {"type": "order.deleted"}})
    assert [f.name for f in order_differences(other, rebuilt, ["events"])] == ["events[3]"]


def test_an_order_on_one_side_only_differs_in_its_view() -> None:
    found = order_differences(_order(), {}, ["view"])
    assert [(f.name, f.rebuilt) for f in found] == [("view", None)]


def test_a_rejection_is_its_event_not_its_place_in_the_log_unless_it_has_no_event() -> None:
    live = {
        "source": "orderstate/api",
        "event_id": "e-1",
        "event_type": "order.state_changed",
        "reason": "invalid_transition",
        "original": json.dumps({"topic": None}),
    }
    replayed = {**live, "original": json.dumps({"topic": "shop.orders.v1", "offset": 7})}
    assert rejection_identity(live) == rejection_identity(replayed)
    malformed = {
        "source": None,
        "event_id": None,
        "event_type": None,
        "reason": "malformed",
        "original": json.dumps({"topic": "shop.orders.v1", "partition": 2, "offset": 7}),
    }
    assert rejection_identity(malformed) == "shop.orders.v1[2]@7: malformed"
