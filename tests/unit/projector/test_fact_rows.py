"""The outbox text of an order event is the event the validating builder makes.

``fact_rows`` serialises each order once and puts that text into every event of the change
(events/outbound.py, ``outbound_event_text``); ``outbound_event`` builds the same event
through the published models, validating it. Both must give the same bytes for every
decision the domain makes.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic_core
import pytest

from orderstate.domain import (
    Accepted,
    Item,
    OrderFields,
    OrderState,
    OrderView,
    PolicyBook,
    ShipmentDirection,
    ShipmentLink,
    ShipmentStatus,
    StateChanged,
    Tags,
    decide,
)
from orderstate.events.decode import decode_record
from orderstate.events.envelope import CloudEvent
from orderstate.events.errors import DecodeError
from orderstate.events.outbound import (
    outbound_event,
    outbound_event_data,
    snapshot_data,
    snapshot_text,
    time_data,
)
from orderstate.projector.outbox_rows import fact_rows
from orderstate.simulation.generator import SimConfig, generate

NOW = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _simulated_decisions() -> list[tuple[Accepted, CloudEvent]]:
    """Every accepted decision of 300 simulated orders, decided in publishing order."""
    policies = PolicyBook()
    views: dict[tuple[str, str], OrderView] = {}
    accepted = []
    for record in generate(SimConfig(orders=300, seed=5, start=NOW, promised=0.5)):
        try:
            decoded = decode_record(
                key=record.key, value=record.value, headers=record.headers, topic_role=record.role
            )
        except DecodeError:
            continue
        change = decoded.change
        key = (change.shop_id, change.order_id)
        decision = decide(views.get(key), change, policies.for_shop(change.shop_id), NOW)
        if isinstance(decision, Accepted):
            views[key] = decision.new_view
            accepted.append((decision, decoded.event))
    return accepted


DECISIONS = _simulated_decisions()


def _validated_texts(decision: Accepted, cause: CloudEvent, first_sequence: int) -> list[str]:
    return [
        outbound_event(
            fact,
            decision.new_view,
            event_id=row_id,
            now=NOW,
            sequence=first_sequence + index,
        ).model_dump_json(exclude_none=True)
        for index, (fact, row_id) in enumerate(
            zip(
                decision.emitted,
                [r.event_id for r in fact_rows(decision, cause=cause, now=NOW, first_sequence=1)],
                strict=True,
            )
        )
    ]


def test_the_simulation_gives_decisions_of_every_shape() -> None:
    # The comparison below means something only over orders with items, prices, shipments
    # and tags, and over changes that emit more than one event.
    views = [d.new_view for d, _ in DECISIONS]
    assert len(DECISIONS) > 2_000
    assert any(len(d.emitted) > 1 for d, _ in DECISIONS)
    assert any(v.shipments for v in views)
    assert any(i.unit_price is not None for v in views for i in v.items)
    assert any(v.tags for v in views)
    assert any(v.fields.promised_delivery_date is not None for v in views)


def test_every_simulated_event_is_the_validated_event() -> None:
    for decision, cause in DECISIONS:
        rows = fact_rows(decision, cause=cause, now=NOW, first_sequence=7)
        assert [r.event_json for r in rows] == _validated_texts(decision, cause, 7)


def _snapshot_of(view: OrderView) -> dict[str, Any]:
    """``OrderSnapshot`` mapped member by member from the view's own JSON form: the oracle
    for ``snapshot_text``, which lists the members once for the write path."""
    raw = view.model_dump(mode="json", exclude={"history"})
    fields = raw["fields"]
    return {
        "order_id": raw["order_id"],
        "order_url": fields["order_url"],
        "order_date": fields["order_date"],
        "language": fields["language"],
        "promised_delivery_date": fields["promised_delivery_date"],
        "order_tags": raw["tags"],
        "boarding_complete": raw["boarding_complete"],
        "state": raw["state"],
        "payment_evidence": raw["payment_evidence"],
        "version": raw["version"],
        "items": raw["items"],
        "shipments": raw["shipments"],
        "created_at": raw["created_at"],
        "updated_at": raw["updated_at"],
        "deleted": raw["deleted"],
    }


def test_the_snapshot_text_maps_every_member_of_the_view() -> None:
    for decision, _ in DECISIONS:
        view = decision.new_view
        assert snapshot_text(view) == pydantic_core.to_json(_snapshot_of(view)).decode()
        assert snapshot_data(view) == _snapshot_of(view)


# Text that JSON must escape, or that is not ASCII, in every member that holds text.
_ODD = 'Grüße "quoted" \\ back\nslash ✓ 注文 \U0001f600 ,"order":{}}'
# What an order id may hold (no control characters).
_ID = 'Grüße "quoted" \\ ✓ 注文 \U0001f600 ,"order":{}}'
_ODD_VIEW = OrderView(
    shop_id="shop-1",
    order_id=_ID,
    fields=OrderFields(
        order_url='https://example.com/o?x="1"&y=ü',
        order_date=datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
        language=_ODD,
        promised_delivery_date=datetime(2026, 12, 5, tzinfo=UTC),
    ),
    items=(
        Item(item_id=_ODD, sku="s", name=_ODD, quantity=3, unit_price=Decimal("0.10")),
        Item(item_id="2", sku=_ODD, quantity=1, unit_price=Decimal("1E+3"), currency="EUR"),
        Item(item_id="3", sku="x", quantity=1),
    ),
    tags=Tags({_ODD: _ODD, "plain": ""}),
    shipments=(
        ShipmentLink(
            shipment_id=_ODD,
            direction=ShipmentDirection.OUTBOUND,
            status=ShipmentStatus.IN_TRANSIT,
            carrier=_ODD,
            linked_at=NOW,
            status_at=datetime(2026, 12, 1, tzinfo=UTC),
        ),
    ),
    state=OrderState.PAID,
    version=4,
    created_at=NOW,
    updated_at=NOW,
)


@pytest.mark.parametrize("backfill", [False, True])
def test_text_that_needs_escaping_comes_out_as_the_validated_event(backfill: bool) -> None:
    facts = (
        StateChanged(
            version=4,
            cause_event_id=_ODD,
            occurred_at=NOW,
            from_state=OrderState.NEW,
            to_state=OrderState.PAID,
            backfill=backfill,
        ),
        StateChanged(
            version=4,
            cause_event_id="c",
            occurred_at=NOW,
            from_state=None,
            to_state=OrderState.PAID,
            backfill=backfill,
        ),
    )
    decision = Accepted(new_view=_ODD_VIEW, emitted=facts)
    cause = CloudEvent(
        specversion="1.0",
        id=_ODD,
        source="shop.example/orders",
        type="order.state_changed",
        time=NOW,
        shopid="shop-1",
        orderid=_ID,
        data={},
    )
    rows = fact_rows(decision, cause=cause, now=NOW, first_sequence=1)

    assert [r.event_json for r in rows] == _validated_texts(decision, cause, 1)
    # And the text of the dict the events were built from before (json.dumps' compact form).
    for index, (row, fact) in enumerate(zip(rows, facts, strict=True)):
        data = outbound_event_data(
            fact,
            _snapshot_of(_ODD_VIEW),
            event_id=row.event_id,
            time=time_data(NOW),
            view=_ODD_VIEW,
            sequence=1 + index,
        )
        assert row.event_json == pydantic_core.to_json(data).decode()
