"""``evolve``, the domain's copy-with-changes: the same copy ``model_copy(update=...)`` makes, at
half its cost, and a name that is not a field is refused instead of stored."""

import pytest
from pydantic import ValidationError

from orderstate.domain import OrderState, OrderView, ShipmentStatus, Tags
from orderstate.domain.model import _Frozen
from tests.unit.domain.factories import T0, Story, create_order, link_shipment, request_state


def _order_with_a_shipment() -> OrderView:
    story = Story()
    story.accept(create_order())
    story.accept(link_shipment())
    story.accept(request_state(OrderState.PAID))
    return story.order


def test_evolve_makes_the_copy_model_copy_makes() -> None:
    view = _order_with_a_shipment()
    updates = {"version": view.version + 1, "updated_at": T0, "tags": Tags({"a": "b"})}

    evolved = view.evolve(**updates)
    copied = view.model_copy(update=updates)

    assert evolved == copied
    assert evolved.model_fields_set == copied.model_fields_set
    assert evolved.model_dump_json() == copied.model_dump_json()
    assert hash(evolved) == hash(copied)
    assert evolved.version == view.version + 1
    # The original is untouched.
    assert view.version == evolved.version - 1


def test_evolve_of_a_nested_value_keeps_the_others() -> None:
    view = _order_with_a_shipment()
    link = view.shipments[0]

    evolved = link.evolve(status=ShipmentStatus.DELIVERED)

    assert evolved.status is ShipmentStatus.DELIVERED
    assert evolved.shipment_id == link.shipment_id
    assert evolved.model_fields_set == link.model_fields_set | {"status"}


def test_evolve_refuses_a_name_that_is_not_a_field() -> None:
    view = _order_with_a_shipment()

    with pytest.raises(TypeError, match="OrderView has no field verison"):
        view.evolve(verison=3)
    # What model_copy does with the same typo, and why the domain does not use it.
    assert "verison" in view.model_copy(update={"verison": 3}).__dict__


def test_an_evolved_view_stays_frozen() -> None:
    evolved = _order_with_a_shipment().evolve(version=9)

    with pytest.raises(ValidationError, match="frozen"):
        evolved.version = 10  # type: ignore[misc]


def _subclasses(cls: type[_Frozen]) -> list[type[_Frozen]]:
    found: list[type[_Frozen]] = []
    for direct in cls.__subclasses__():
        found += [direct, *_subclasses(direct)]
    return found


def test_every_evolving_model_keeps_what_evolve_relies_on() -> None:
    # evolve sets pydantic's private and extra slots to None: a model with private attributes
    # or extra fields would lose them in every copy.
    models = _subclasses(_Frozen)

    assert OrderView in models
    for model in models:
        assert not model.__private_attributes__, model
        assert model.model_config.get("extra") == "forbid", model
