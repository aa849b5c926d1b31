"""The order's own data: items, tags and ``order.updated`` patches. None of them moves the
state; each accepted one emits ``OrderUpdated`` so outbound sequences stay gap-free."""

import copy
import pickle
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from orderstate.domain import (
    Change,
    Effect,
    Item,
    ItemPatch,
    ItemStatus,
    OrderFields,
    OrderPatch,
    OrderState,
    OrderUpdated,
    OrderView,
    ReasonCode,
    Rejected,
    Tags,
)
from orderstate.domain.model import MAX_ITEMS, MAX_TAGS
from tests.unit.domain.factories import (
    T0,
    Story,
    add_item,
    at,
    create_order,
    item,
    remove_item,
    request_state,
    set_tags,
    story_in,
    update_item,
    update_order,
)

S = OrderState

MUG = Item(
    item_id="i-1",
    sku="MUG-1",
    name="Mug",
    quantity=1,
    unit_price=Decimal("12.50"),
    currency="EUR",
)
PLATE = Item(item_id="i-2", sku="PLATE-1", quantity=4)


def _order_with_items(*items: Item) -> Story:
    story = Story()
    story.accept(create_order(items=items))
    return story


def test_item_added() -> None:
    """An added item is appended and published as OrderUpdated(item_added)."""
    story = _order_with_items(PLATE)

    decision = story.accept(add_item(MUG, event_id="ev-add", occurred_at=at(20)))

    assert decision.new_view.items == (PLATE, MUG)
    assert decision.new_view.version == 2
    assert decision.emitted == (
        OrderUpdated(version=2, cause_event_id="ev-add", occurred_at=at(20), change="item_added"),
    )


def test_item_added_again_is_a_duplicate() -> None:
    """Rule 3 for items: the same item again is a no-op."""
    story = _order_with_items(MUG)

    decision = story.accept(add_item(MUG))

    assert decision.effect is Effect.DUPLICATE
    assert decision.emitted == ()


def test_item_added_with_existing_id_and_other_content_is_item_exists() -> None:
    """An item id names one item; adding it again with other content is a conflict."""
    story = _order_with_items(MUG)

    rejected = story.reject(add_item(MUG.model_copy(update={"quantity": 2})))

    assert rejected.reason is ReasonCode.ITEM_EXISTS
    assert rejected.message == (
        "Order o-1 already has item i-1 with other content; update it instead."
    )


def test_item_update_changes_only_the_given_fields() -> None:
    """An item patch leaves out what it does not name."""
    story = _order_with_items(MUG, PLATE)

    decision = story.accept(
        update_item(
            "i-1",
            ItemPatch(quantity=3, status=ItemStatus.SHIPPED),
            event_id="ev-upd",
            occurred_at=at(30),
        )
    )

    assert decision.new_view.items == (
        Item(
            item_id="i-1",
            sku="MUG-1",
            name="Mug",
            quantity=3,
            unit_price=Decimal("12.50"),
            currency="EUR",
            status=ItemStatus.SHIPPED,
        ),
        PLATE,
    )
    assert decision.emitted == (
        OrderUpdated(version=2, cause_event_id="ev-upd", occurred_at=at(30), change="item_updated"),
    )


def test_item_update_explicit_null_clears_an_optional_field() -> None:
    """An item patch with name=null removes the name."""
    story = _order_with_items(MUG)

    decision = story.accept(update_item("i-1", ItemPatch(name=None)))

    assert decision.new_view.items[0].name is None
    assert decision.new_view.items[0].sku == "MUG-1"


def test_item_update_to_the_same_values_is_a_duplicate() -> None:
    """Rule 3 for items: a patch that changes nothing is a no-op."""
    story = _order_with_items(MUG)

    assert story.accept(update_item("i-1", ItemPatch(quantity=1))).effect is Effect.DUPLICATE


@pytest.mark.parametrize("patch", [ItemPatch(quantity=None), ItemPatch(sku=None)])
def test_item_update_cannot_clear_a_required_field(patch: ItemPatch) -> None:
    """An item patch cannot remove sku or quantity; the item would be invalid."""
    story = _order_with_items(MUG)

    decision = story.decide(update_item("i-1", patch))

    assert isinstance(decision, Rejected)
    assert story.order.items == (MUG,)


@pytest.mark.parametrize(
    ("item_id", "patch", "lone"),
    [
        ("i-2", ItemPatch(unit_price=Decimal("5.00")), "unit_price"),
        ("i-1", ItemPatch(currency=None), "unit_price"),
        ("i-2", ItemPatch(currency="EUR"), "currency"),
    ],
)
def test_item_update_cannot_part_a_price_from_its_currency(
    item_id: str, patch: ItemPatch, lone: str
) -> None:
    """As in an item added or created: unit_price and currency go together. Each patch alone
    is fine; the item it would leave is not (it was accepted, with a price of no currency)."""
    story = _order_with_items(MUG, PLATE)

    rejected = story.reject(update_item(item_id, patch))

    assert rejected.reason is ReasonCode.MALFORMED
    assert rejected.message == (
        f"Order o-1: the update would leave item {item_id} with a {lone} alone; unit_price and "
        "currency go together: give both or neither."
    )
    assert story.order.items == (MUG, PLATE)
    priced = story.accept(update_item("i-2", ItemPatch(unit_price=Decimal("5.00"), currency="EUR")))
    assert priced.new_view.items[1].currency == "EUR"


def test_item_update_of_unknown_item_is_item_not_found() -> None:
    """An update names an existing item; the message lists the items the order has."""
    story = _order_with_items(MUG, PLATE)

    rejected = story.reject(update_item("i-9", ItemPatch(quantity=2)))

    assert rejected.reason is ReasonCode.ITEM_NOT_FOUND
    assert rejected.message == "Order o-1 has no item i-9 (items: i-1, i-2)."


def test_item_removed() -> None:
    """A removed item leaves the order; OrderUpdated(item_removed) keeps the sequence."""
    story = _order_with_items(MUG, PLATE)

    decision = story.accept(remove_item("i-1", event_id="ev-rm", occurred_at=at(40)))

    assert decision.new_view.items == (PLATE,)
    assert decision.emitted == (
        OrderUpdated(version=2, cause_event_id="ev-rm", occurred_at=at(40), change="item_removed"),
    )


def test_item_remove_of_unknown_item_is_item_not_found() -> None:
    """A removal names an existing item; removing twice is refused the second time."""
    story = _order_with_items(MUG)
    story.accept(remove_item("i-1"))

    rejected = story.reject(remove_item("i-1"))

    assert rejected.reason is ReasonCode.ITEM_NOT_FOUND
    assert rejected.message == "Order o-1 has no item i-1 (items: none)."


@pytest.mark.parametrize("closed", [S.CANCELLED, S.REFUNDED])
@pytest.mark.parametrize(
    "change",
    [add_item(PLATE), update_item("i-1", ItemPatch(quantity=2)), remove_item("i-1")],
    ids=["added", "updated", "removed"],
)
def test_items_of_cancelled_or_refunded_order_cannot_change(
    closed: OrderState, change: Change
) -> None:
    """order_closed: the items of a cancelled or refunded order are final."""
    story = Story()
    story.accept(create_order(items=(MUG,)))
    story.accept(request_state(S.PAID))
    story.accept(request_state(S.CANCELLED))
    if closed is S.REFUNDED:
        story.accept(request_state(S.REFUNDED))
    view = story.order

    rejected = story.reject(change)

    assert rejected.reason is ReasonCode.ORDER_CLOSED
    assert rejected.message == f"Order o-1 is '{closed.value}'; its items can no longer change."
    assert story.order == view


def test_tags_set_replaces_every_tag() -> None:
    """order.tags_set without merge replaces the whole tag map."""
    story = Story()
    story.accept(create_order(tags={"a": "1", "b": "2"}))

    decision = story.accept(set_tags({"c": "3"}, event_id="ev-tags", occurred_at=at(5)))

    assert decision.new_view.tags == {"c": "3"}
    assert decision.emitted == (
        OrderUpdated(version=2, cause_event_id="ev-tags", occurred_at=at(5), change="tags_set"),
    )


def test_tags_set_with_merge_adds_and_overwrites_given_keys() -> None:
    """order.tags_set with merge keeps the other keys."""
    story = Story()
    story.accept(create_order(tags={"a": "1", "b": "2"}))

    decision = story.accept(set_tags({"b": "9", "c": "3"}, merge=True))

    assert decision.new_view.tags == {"a": "1", "b": "9", "c": "3"}


def test_tags_set_empty_without_merge_clears_them() -> None:
    """Replacing with an empty map removes every tag."""
    story = Story()
    story.accept(create_order(tags={"a": "1"}))

    assert story.accept(set_tags({})).new_view.tags == {}


@pytest.mark.parametrize(
    ("tags", "merge"),
    [({"a": "1", "b": "2"}, False), ({"b": "2"}, True), ({}, True)],
    ids=["same_replace", "subset_merge", "empty_merge"],
)
def test_tags_set_that_changes_nothing_is_a_duplicate(tags: dict[str, str], merge: bool) -> None:
    """Rule 3 for tags: no change, no version, nothing emitted."""
    story = Story()
    story.accept(create_order(tags={"a": "1", "b": "2"}))
    view = story.order

    decision = story.accept(set_tags(tags, merge=merge))

    assert decision.effect is Effect.DUPLICATE
    assert decision.emitted == ()
    assert decision.new_view == view


def test_tags_may_change_on_a_cancelled_order() -> None:
    """Tags are the shop's labels, not lifecycle; no rule closes them."""
    story = story_in(S.CANCELLED)

    assert story.accept(set_tags({"reason": "fraud"})).new_view.tags == {"reason": "fraud"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda tags: tags.__setitem__("b", "2"),
        lambda tags: tags.__delitem__("a"),
        lambda tags: tags.update(b="2"),
        lambda tags: tags.setdefault("b", "2"),
        lambda tags: tags.pop("a"),
        lambda tags: tags.popitem(),
        lambda tags: tags.clear(),
        lambda tags: tags.__ior__({"b": "2"}),
    ],
    ids=["setitem", "delitem", "update", "setdefault", "pop", "popitem", "clear", "ior"],
)
def test_view_tags_cannot_be_changed_in_place(mutate: Callable[[Tags], object]) -> None:
    """The view is frozen all the way down: its tags refuse every in-place change."""
    story = Story()
    view = story.accept(create_order(tags={"a": "1"})).new_view

    with pytest.raises(TypeError, match="Tags cannot change"):
        mutate(view.tags)
    assert view.tags == {"a": "1"}


@pytest.mark.parametrize(
    "change",
    [
        set_tags({"b": "2"}),
        set_tags({"b": "2"}, merge=True),
        update_order(OrderPatch(tags=Tags({"b": "2"}))),
        update_order(OrderPatch(tags=None)),
    ],
    ids=["replace", "merge", "patch", "patch_null"],
)
def test_every_tag_change_leaves_immutable_tags(change: Change) -> None:
    """decide builds views with model_copy, which does not validate: each path makes Tags."""
    story = Story()
    story.accept(create_order(tags={"a": "1"}))

    assert isinstance(story.accept(change).new_view.tags, Tags)


def test_view_with_tags_is_hashable_and_keeps_its_json_form() -> None:
    """Equal views hash equal; tags stay a JSON object and survive a round trip and copies."""
    view = Story().accept(create_order(tags={"channel": "web", "a": "1"})).new_view
    text = view.model_dump_json()

    assert '"tags":{"channel":"web","a":"1"}' in text
    assert view.model_dump(mode="json")["tags"] == {"channel": "web", "a": "1"}
    again = OrderView.model_validate_json(text)
    # The stored form leaves out the history entries and moments (they have their own table).
    stored = view.model_copy(update={"history": (), "moments": frozenset()})
    assert again == stored
    assert hash(again) == hash(stored)
    assert isinstance(again.tags, Tags)
    assert copy.deepcopy(view) == view
    assert pickle.loads(pickle.dumps(view)) == view  # noqa: S301 -- our own bytes


def test_order_update_changes_only_the_given_fields() -> None:
    """order.updated patch: a field left out keeps its value."""
    story = Story()
    story.accept(create_order())

    decision = story.accept(
        update_order(OrderPatch(language="fr"), event_id="ev-upd", occurred_at=at(7))
    )

    assert decision.new_view.fields == OrderFields(
        order_url="https://shop.example/orders/o-1", order_date=T0, language="fr"
    )
    assert decision.emitted == (
        OrderUpdated(version=2, cause_event_id="ev-upd", occurred_at=at(7), change="order_updated"),
    )
    assert decision.new_view.state is S.NEW


def test_order_update_explicit_null_clears_a_field() -> None:
    """order.updated patch: an explicit null clears an optional field."""
    story = Story()
    story.accept(create_order())

    decision = story.accept(update_order(OrderPatch(order_url=None)))

    assert decision.new_view.fields == OrderFields(order_date=T0, language="de")


def test_order_update_sets_promised_delivery_date_and_order_date() -> None:
    """order.updated patch: dates are replaced as given."""
    story = Story()
    story.accept(create_order())
    promised = T0 + timedelta(days=3)

    decision = story.accept(
        update_order(OrderPatch(order_date=at(-60), promised_delivery_date=promised))
    )

    assert decision.new_view.fields.order_date == at(-60)
    assert decision.new_view.fields.promised_delivery_date == promised


def test_order_update_cannot_remove_order_date() -> None:
    """order.updated patch: order_date is required, so null is refused as malformed."""
    story = Story()
    story.accept(create_order())

    rejected = story.reject(update_order(OrderPatch(order_date=None)))

    assert rejected.reason is ReasonCode.MALFORMED
    assert rejected.message == "Order o-1: order_date cannot be removed; it is required."


@pytest.mark.parametrize(
    "patch",
    [OrderPatch(), OrderPatch(language="de"), OrderPatch(tags=Tags({"a": "1"}))],
    ids=["empty", "same_language", "same_tags"],
)
def test_order_update_that_changes_nothing_is_a_duplicate(patch: OrderPatch) -> None:
    """Rule 3 for order.updated: no change, no version, nothing emitted."""
    story = Story()
    story.accept(create_order(tags={"a": "1"}))
    view = story.order

    decision = story.accept(update_order(patch))

    assert decision.effect is Effect.DUPLICATE
    assert decision.new_view == view


def test_order_update_tags_replace_all_tags() -> None:
    """order.updated patch: tags given replace the map, as tags_set without merge."""
    story = Story()
    story.accept(create_order(tags={"a": "1", "b": "2"}))

    assert story.accept(update_order(OrderPatch(tags=Tags({"c": "3"})))).new_view.tags == {"c": "3"}


def test_order_update_explicit_null_tags_clears_them() -> None:
    """order.updated patch: explicit null clears, for tags too."""
    story = Story()
    story.accept(create_order(tags={"a": "1"}))

    decision = story.accept(update_order(OrderPatch(tags=None)))

    assert decision.new_view.tags == {}


def test_order_update_cannot_carry_a_state() -> None:
    """docs/events.md: order.updated carries order fields, never the state; no such field."""
    with pytest.raises(ValidationError, match="state"):
        OrderPatch(state="paid")  # type: ignore[call-arg]


def test_order_fields_may_change_on_a_closed_order() -> None:
    """Descriptive fields are not lifecycle: a cancelled order's language may still change."""
    story = story_in(S.CANCELLED)

    assert story.accept(update_order(OrderPatch(language="en"))).new_view.fields.language == "en"


def test_items_given_at_creation_are_kept() -> None:
    """order.created carries the items; they are the order's items from version 1."""
    story = Story()

    decision = story.accept(create_order(items=(MUG, item("i-2"))))

    assert decision.new_view.items == (MUG, Item(item_id="i-2", sku="SKU-i-2", quantity=1))


def test_tags_merged_past_the_limit_are_refused() -> None:
    """100 tags and a merge of 1 more: each payload is within the limit, the order would not
    be (it was accepted with 101, which its own order.created would refuse)."""
    story = Story()
    story.accept(create_order(tags={f"k{n}": "v" for n in range(MAX_TAGS)}))

    rejected = story.reject(set_tags({"extra": "v"}, merge=True))

    assert rejected.reason is ReasonCode.MALFORMED
    assert rejected.message == (
        f"Order o-1 would have {MAX_TAGS + 1} tags with this merge; an order has at most "
        f"{MAX_TAGS}."
    )
    assert len(story.order.tags) == MAX_TAGS
    # Overwriting a key it has keeps the count.
    assert story.accept(set_tags({"k1": "w"}, merge=True)).new_view.tags["k1"] == "w"


def test_an_item_past_the_limit_is_refused() -> None:
    items = tuple(Item(item_id=f"i-{n}", sku="S", quantity=1) for n in range(MAX_ITEMS))
    story = _order_with_items(*items)

    rejected = story.reject(add_item(Item(item_id="one-more", sku="S", quantity=1)))

    assert rejected.reason is ReasonCode.MALFORMED
    assert rejected.message == (
        f"Order o-1 has {MAX_ITEMS} items; an order has at most {MAX_ITEMS}."
    )
    assert len(story.order.items) == MAX_ITEMS
