"""Building inbound events for tests: CloudEvents and the apply_batch inputs made from them."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from orderstate.events.decode import decode_event
from orderstate.events.envelope import CloudEvent, encode_binary
from orderstate.events.registry import INBOUND_TYPES
from orderstate.events.topics import TOPICS
from orderstate.projector.inputs import Incoming, Position

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def event(
    type_name: str,
    data: dict[str, Any] | None = None,
    *,
    shop: str = "shop-1",
    order: str = "ORD-1",
    minutes: float = 0,
    event_id: str | None = None,
    source: str = "https://shop.example.com",
) -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=event_id or f"evt-{next(_ids)}",
        source=source,
        type=type_name,
        time=T0 + timedelta(minutes=minutes),
        shopid=shop,
        orderid=order,
        data=data or {},
    )


def created(shop: str = "shop-1", order: str = "ORD-1", **data: Any) -> CloudEvent:
    body: dict[str, Any] = {
        "order_date": "2026-03-02T09:00:00Z",
        "items": [
            {
                "item_id": "l1",
                "sku": "SKU-1",
                "quantity": 1,
                "unit_price": "9.99",
                "currency": "EUR",
            }
        ],
    }
    body.update(data)
    return event("order.created", body, shop=shop, order=order)


def state(value: str, shop: str = "shop-1", order: str = "ORD-1", minutes: float = 1) -> CloudEvent:
    occurred = (T0 + timedelta(minutes=minutes)).isoformat()
    return event(
        "order.state_changed",
        {"state": value, "occurred_at": occurred},
        shop=shop,
        order=order,
        minutes=minutes,
    )


def shipment(
    shipment_id: str = "S1",
    direction: str = "outbound",
    shop: str = "shop-1",
    order: str = "ORD-1",
) -> CloudEvent:
    return event(
        "shipment.created",
        {"shipment_id": shipment_id, "direction": direction},
        shop=shop,
        order=order,
    )


def incoming(ev: CloudEvent, position: Position | None = None) -> Incoming:
    role = INBOUND_TYPES[ev.type].topic
    return Incoming(decoded=decode_event(ev, role), topic_role=role, position=position)


def logged(
    ev: CloudEvent, offset: int, *, partition: int = 0, time_ms: int | None = None
) -> Incoming:
    """``ev`` as the worker hands it over: from the default topic of its type, at ``offset``
    of ``partition``, with the pair's merge time and log clock there both ``time_ms`` (its
    event time unless given)."""
    role = INBOUND_TYPES[ev.type].topic
    at = int(ev.time.timestamp() * 1000) if time_ms is None else time_ms
    position = Position(TOPICS[role].default_name, partition, offset, at, at, at)
    return incoming(ev, position)


def record(ev: CloudEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of the event in binary content mode, ready to produce."""
    headers, value = encode_binary(ev)
    return ev.key.encode(), value, headers


def structured_record(ev: CloudEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    body = json.dumps(ev.model_dump(mode="json", exclude_none=True)).encode()
    return ev.key.encode(), body, [("content-type", b"application/cloudevents+json")]
