"""Rule 3 of docs/lifecycle.md and create idempotency: a change that finds the order already as it
asks is a no-op (effect duplicate, nothing emitted, same version); a create that finds the
order with other content is order_exists."""

from collections.abc import Callable
from typing import Any

import pytest

from orderstate.domain import (
    Change,
    CreateOrder,
    Effect,
    ItemPatch,
    OrderPatch,
    OrderState,
    ReasonCode,
    Rejected,
    ShipmentStatus,
)
from tests.unit.domain.factories import (
    Story,
    add_item,
    cancel_shipment,
    create_order,
    item,
    link_shipment,
    order_fields,
    request_state,
    set_boarding,
    set_tags,
    shipment_status,
    story_in,
    update_item,
    update_order,
)

S = OrderState


def _full_create(event_id: str | None = None, **overrides: Any) -> CreateOrder:
    """An order.created with items, tags and boarding, so every compared part is exercised."""
    values: dict[str, Any] = {
        "items": (item("i-1"), item("i-2", quantity=2)),
        "tags": {"channel": "web"},
        "boarding_complete": True,
    }
    values.update(overrides)
    return create_order(event_id=event_id, **values)


def test_same_create_again_is_a_duplicate() -> None:
    """Create idempotency: the same content again, under another event id, changes nothing."""
    story = Story()
    story.accept(_full_create("ev-create-1"))
    view = story.order

    decision = story.accept(_full_create("ev-create-2"))

    assert decision.effect is Effect.DUPLICATE
    assert decision.emitted == ()
    assert decision.new_view == view
    assert decision.new_view.version == 1


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"fields": order_fields(language="fr")}, "order fields"),
        ({"items": (item("i-1"),)}, "items"),
        ({"tags": {"channel": "app"}}, "tags"),
        ({"boarding_complete": False}, "boarding_complete"),
        ({"fields": order_fields(order_url=None), "tags": {}}, "order fields, tags"),
    ],
)
def test_create_with_other_content_is_order_exists(overrides: dict[str, Any], named: str) -> None:
    """Create idempotency: other content under the same order id is refused, naming what differs."""
    story = Story()
    story.accept(_full_create())
    view = story.order

    rejected = story.reject(_full_create(**overrides))

    assert rejected.reason is ReasonCode.ORDER_EXISTS
    assert rejected.message == (
        f"Order o-1 already exists with different {named}; update it instead of creating it again."
    )
    assert story.order == view


def test_create_again_after_state_moved_is_a_duplicate() -> None:
    """Create idempotency: the state moving on does not make the original create a conflict."""
    story = story_in(S.IN_PREPARATION)

    assert story.accept(create_order()).effect is Effect.DUPLICATE


def test_create_compares_with_the_current_order_not_the_first_request() -> None:
    """Create idempotency compares content with the order as it is now, so a create re-sent
    after the order changed is order_exists. A redelivery of the very same event never gets
    here: the projector drops it on (source, id) in processed_events before decide runs."""
    story = Story()
    story.accept(create_order(event_id="ev-create"))
    story.accept(add_item(item("i-1")))

    rejected = story.reject(create_order(event_id="ev-create"))

    assert rejected.reason is ReasonCode.ORDER_EXISTS
    assert rejected.message == (
        "Order o-1 already exists with different items; update it instead of creating it again."
    )


def test_create_with_other_initial_state_is_order_exists() -> None:
    """Create idempotency: the initial state is part of the content of order.created."""
    story = Story()
    story.accept(create_order(event_id="ev-create-1"))

    decision = story.decide(create_order(state=S.PAID, event_id="ev-create-2"))

    assert isinstance(decision, Rejected)
    assert decision.reason is ReasonCode.ORDER_EXISTS


_REPEATABLE: dict[str, Callable[[], Change]] = {
    "state": lambda: request_state(S.IN_PREPARATION),
    "shipment_linked": lambda: link_shipment("s-2"),
    "shipment_status": lambda: shipment_status("s-1", ShipmentStatus.IN_TRANSIT),
    "shipment_cancelled": lambda: cancel_shipment("s-1"),
    "boarding": lambda: set_boarding(True),
    "tags_replaced": lambda: set_tags({"a": "1"}),
    "tags_merged": lambda: set_tags({"b": "2"}, merge=True),
    "item_added": lambda: add_item(item("i-2")),
    "item_updated": lambda: update_item("i-1", ItemPatch(quantity=3)),
    "order_updated": lambda: update_order(OrderPatch(language="fr")),
}


@pytest.mark.parametrize("kind", sorted(_REPEATABLE))
def test_repeated_change_is_a_noop(kind: str) -> None:
    """Rule 3 for every kind of change: the second identical change is a duplicate."""
    story = Story()
    story.accept(create_order(items=(item("i-1"),)))
    story.accept(request_state(S.PAID))
    if kind.startswith("shipment_"):
        story.accept(link_shipment("s-1"))
    story.accept(_REPEATABLE[kind]())
    view = story.order

    decision = story.accept(_REPEATABLE[kind]())

    assert decision.effect is Effect.DUPLICATE
    assert decision.emitted == ()
    assert decision.new_view == view
