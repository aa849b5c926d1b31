"""One table from inbound event type to payload model to domain change."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel

from orderstate.domain import (
    AddItem,
    CancelShipment,
    Change,
    ChangeShipmentStatus,
    CreateOrder,
    DeleteOrder,
    ImportedState,
    ImportOrder,
    Item,
    ItemPatch,
    LinkShipment,
    OrderFields,
    OrderPatch,
    RemoveItem,
    RequestState,
    SetBoarding,
    SetTags,
    ShipmentLink,
    Tags,
    UpdateItem,
    UpdateOrder,
)
from orderstate.events import inbound as d
from orderstate.events.envelope import CloudEvent
from orderstate.events.fields import money_to_decimal
from orderstate.events.topics import TopicRole

__all__ = ["INBOUND_TYPES", "InboundType", "to_change"]


class _Common(NamedTuple):
    shop_id: str
    order_id: str
    event_id: str
    occurred_at: datetime
    expected_version: int | None

    def kwargs(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "order_id": self.order_id,
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
            "expected_version": self.expected_version,
        }


@dataclass(frozen=True, slots=True)
class InboundType:
    type_name: str
    topic: TopicRole
    model: type[d.InboundData]
    build: Callable[[_Common, Any], Change]
    summary: str


def _item(data: d.ItemData) -> Item:
    return Item(
        item_id=data.item_id,
        sku=data.sku,
        name=data.name,
        quantity=data.quantity,
        unit_price=money_to_decimal(data.unit_price),
        currency=data.currency,
        status=data.status,
    )


def _created(c: _Common, p: d.OrderCreatedData) -> Change:
    return CreateOrder(
        **c.kwargs(),
        fields=OrderFields(
            order_url=p.order_url,
            order_date=p.order_date,
            language=p.language,
            promised_delivery_date=p.promised_delivery_date,
        ),
        items=tuple(_item(i) for i in p.items),
        tags=Tags(p.order_tags),
        state=p.state,
        boarding_complete=p.boarding_complete,
    )


def _imported(c: _Common, p: d.OrderImportedData) -> Change:
    return ImportOrder(
        **c.kwargs(),
        fields=OrderFields(
            order_url=p.order_url,
            order_date=p.order_date,
            language=p.language,
            promised_delivery_date=p.promised_delivery_date,
        ),
        items=tuple(_item(i) for i in p.items),
        tags=Tags(p.order_tags),
        boarding_complete=p.boarding_complete,
        state=p.state,
        history=tuple(
            ImportedState(
                state=h.state, occurred_at=h.occurred_at, location=h.location, late=h.late
            )
            for h in p.states_history
        ),
        shipments=tuple(
            ShipmentLink(
                shipment_id=s.shipment_id,
                direction=s.direction,
                status=s.status,
                carrier=s.carrier,
                tracking_code=s.tracking_code,
                linked_at=s.linked_at,
                status_at=s.status_at or s.linked_at,
            )
            for s in p.shipments
        ),
        emit=p.emit,
    )


def _updated(c: _Common, p: d.OrderUpdatedData) -> Change:
    given = p.model_fields_set
    patch: dict[str, Any] = {
        name: getattr(p, name)
        for name in ("order_url", "order_date", "language", "promised_delivery_date")
        if name in given
    }
    if "order_tags" in given:
        patch["tags"] = p.order_tags
    if "boarding_complete" in given:
        patch["boarding_complete"] = p.boarding_complete
    return UpdateOrder(**c.kwargs(), patch=OrderPatch(**patch))


def _item_updated(c: _Common, p: d.ItemUpdatedData) -> Change:
    fields = p.model_dump(exclude_unset=True, exclude={"item_id", "expected_version"})
    if "unit_price" in fields:
        fields["unit_price"] = money_to_decimal(fields["unit_price"])
    return UpdateItem(**c.kwargs(), item_id=p.item_id, patch=ItemPatch(**fields))


def _with_time(c: _Common, occurred_at: datetime | None) -> dict[str, Any]:
    kwargs = c.kwargs()
    if occurred_at is not None:
        kwargs["occurred_at"] = occurred_at
    return kwargs


_TYPES = (
    InboundType(
        "order.created",
        TopicRole.ORDERS_IN,
        d.OrderCreatedData,
        _created,
        "An order was placed: its fields, items, tags, and optionally its state and boarding.",
    ),
    InboundType(
        "order.updated",
        TopicRole.ORDERS_IN,
        d.OrderUpdatedData,
        _updated,
        "Order fields changed (not the state); only the fields present change.",
    ),
    InboundType(
        "order.deleted",
        TopicRole.ORDERS_IN,
        d.OrderDeletedData,
        lambda c, _p: DeleteOrder(**c.kwargs()),
        "The order was deleted at the shop.",
    ),
    InboundType(
        "order.state_changed",
        TopicRole.ORDERS_IN,
        d.OrderStateChangedData,
        lambda c, p: RequestState(
            **_with_time(c, p.occurred_at), state=p.state, location=p.location
        ),
        "The order reached a state at the shop (Seven Senders order-states).",
    ),
    InboundType(
        "order.item_added",
        TopicRole.ORDERS_IN,
        d.ItemAddedData,
        lambda c, p: AddItem(**c.kwargs(), item=_item(p)),
        "An item was added to the order.",
    ),
    InboundType(
        "order.item_updated",
        TopicRole.ORDERS_IN,
        d.ItemUpdatedData,
        _item_updated,
        "Fields or the status of one order item changed.",
    ),
    InboundType(
        "order.item_removed",
        TopicRole.ORDERS_IN,
        d.ItemRemovedData,
        lambda c, p: RemoveItem(**c.kwargs(), item_id=p.item_id),
        "An item was removed from the order.",
    ),
    InboundType(
        "order.tags_set",
        TopicRole.ORDERS_IN,
        d.TagsSetData,
        lambda c, p: SetTags(**c.kwargs(), tags=Tags(p.order_tags), merge=p.merge),
        "The order's key-value tags were replaced or merged.",
    ),
    InboundType(
        "order.boarding_completed",
        TopicRole.ORDERS_IN,
        d.BoardingCompletedData,
        lambda c, p: SetBoarding(**c.kwargs(), boarding_complete=p.boarding_complete),
        "All shipments of the order exist (or, with false, no longer all).",
    ),
    InboundType(
        "order.imported",
        TopicRole.ORDERS_IN,
        d.OrderImportedData,
        _imported,
        "A whole order with its states history and shipments, imported from another system "
        "(orderstate backfill); creates an order the shop does not have, never overwrites one.",
    ),
    InboundType(
        "shipment.created",
        TopicRole.SHIPMENTS_IN,
        d.ShipmentCreatedData,
        lambda c, p: LinkShipment(
            **c.kwargs(),
            shipment_id=p.shipment_id,
            direction=p.direction,
            status=p.status,
            carrier=p.carrier,
            tracking_code=p.tracking_code,
        ),
        "A shipment (outbound or return) was created for the order.",
    ),
    InboundType(
        "shipment.status_changed",
        TopicRole.SHIPMENTS_IN,
        d.ShipmentStatusChangedData,
        lambda c, p: ChangeShipmentStatus(
            **_with_time(c, p.occurred_at), shipment_id=p.shipment_id, status=p.status
        ),
        "The carrier status of a shipment changed.",
    ),
    InboundType(
        "shipment.cancelled",
        TopicRole.SHIPMENTS_IN,
        d.ShipmentCancelledData,
        lambda c, p: CancelShipment(**c.kwargs(), shipment_id=p.shipment_id),
        "A shipment was cancelled before it reached the carrier.",
    ),
)

INBOUND_TYPES: dict[str, InboundType] = {t.type_name: t for t in _TYPES}


def to_change(event: CloudEvent, payload: BaseModel) -> Change:
    """Build the domain change for a validated inbound event."""
    inbound = INBOUND_TYPES[event.type]
    expected = getattr(payload, "expected_version", None)
    common = _Common(
        shop_id=event.shopid,
        order_id=event.orderid,
        event_id=event.id,
        occurred_at=event.time,
        expected_version=expected,
    )
    return inbound.build(common, payload)
