"""One example event per type, in and out, for the published contract under ``schemas/``.

The inbound examples tell a story (an order placed, paid, shipped, delivered);
the outbound examples are what ``decide`` really emits for that story, so the
examples cannot drift from the behaviour.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from orderstate.domain import DEFAULT_POLICY, Accepted, OrderView, ReasonCode, decide
from orderstate.events.alerts import (
    AlertClearedOut,
    AlertRaisedOut,
    ClearedBecause,
    alert_event_data,
    alert_id,
)
from orderstate.events.decode import decode_event
from orderstate.events.envelope import CloudEvent
from orderstate.events.outbound import (
    RejectedOriginal,
    outbound_event,
    outbound_type,
    rejected_event,
)
from orderstate.events.registry import INBOUND_TYPES

__all__ = ["inbound_examples", "outbound_examples"]

_SHOP, _ORDER = "shop-berlin", "ORD-2026-000123"
_T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

_ITEM = {
    "item_id": "line-1",
    "sku": "TSHIRT-RED-M",
    "name": "T-shirt red M",
    "quantity": 2,
    "unit_price": "19.99",
    "currency": "EUR",
}

# (type, data, minutes after _T0) in story order.
_STORY: list[tuple[str, dict[str, Any], int]] = [
    (
        "order.created",
        {
            "order_url": "https://shop.example.com",
            "order_date": "2026-03-02T09:30:00Z",
            "language": "de",
            "promised_delivery_date": "2026-03-05T18:00:00Z",
            "order_tags": {"channel": "web", "campaign": "spring"},
            "boarding_complete": False,
            "items": [_ITEM],
        },
        0,
    ),
    ("order.updated", {"language": "en", "expected_version": 1}, 5),
    (
        "order.item_added",
        {
            "item_id": "line-2",
            "sku": "SOCKS-3P",
            "quantity": 1,
            "unit_price": "9.50",
            "currency": "EUR",
        },
        6,
    ),
    ("order.item_updated", {"item_id": "line-2", "quantity": 2}, 7),
    ("order.item_removed", {"item_id": "line-2"}, 8),
    ("order.tags_set", {"order_tags": {"priority": "high"}, "merge": True}, 9),
    (
        "order.state_changed",
        {"state": "paid", "occurred_at": "2026-03-02T09:41:00Z", "location": "Berlin"},
        11,
    ),
    (
        "shipment.created",
        {
            "shipment_id": "SHP-778899",
            "direction": "outbound",
            "carrier": "dhl",
            "tracking_code": "00340434161234567890",
        },
        120,
    ),
    # The warehouse reports preparation after the parcel left: recorded late, not applied.
    (
        "order.state_changed",
        {"state": "in_preparation", "occurred_at": "2026-03-02T11:05:00Z"},
        121,
    ),
    ("order.boarding_completed", {"boarding_complete": True}, 122),
    (
        "shipment.status_changed",
        {"shipment_id": "SHP-778899", "status": "delivered", "occurred_at": "2026-03-04T14:12:00Z"},
        3000,
    ),
    ("shipment.created", {"shipment_id": "SHP-RET-1", "direction": "return"}, 4000),
    ("shipment.cancelled", {"shipment_id": "SHP-RET-1"}, 4010),
    ("order.deleted", {}, 9000),
]


def _event(n: int, type_name: str, data: dict[str, Any], minutes: int) -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=f"9b2f1c3e-0000-4000-8000-{n:012d}",
        source="https://shop.example.com/orders",
        type=type_name,
        time=_T0 + timedelta(minutes=minutes),
        shopid=_SHOP,
        orderid=_ORDER,
        data=data,
    )


def _story_events() -> list[CloudEvent]:
    return [_event(n, t, data, m) for n, (t, data, m) in enumerate(_STORY, start=1)]


def inbound_examples() -> dict[str, CloudEvent]:
    """The first story event of each inbound type, and an imported order."""
    examples: dict[str, CloudEvent] = {}
    for event in _story_events():
        examples.setdefault(event.type, event)
    examples["order.imported"] = _imported_example()
    return examples


def _imported_example() -> CloudEvent:
    """An order of the year before, delivered, as `orderstate backfill` appends it."""
    return CloudEvent(
        specversion="1.0",
        id="3f0c2d41-8a9e-5b7f-9c1d-2e4a6b8c0d1e",
        source="orderstate/backfill",
        type="order.imported",
        time=datetime(2025, 11, 30, 15, 2, tzinfo=UTC),
        shopid=_SHOP,
        orderid="ORD-2025-004711",
        data={
            "order_url": "https://shop.example.com",
            "order_date": "2025-11-27T09:30:00Z",
            "language": "de",
            "order_tags": {"channel": "web"},
            "boarding_complete": True,
            "items": [_ITEM],
            "state": "completed",
            "states_history": [
                {"state": "new", "occurred_at": "2025-11-27T09:30:00Z"},
                {"state": "paid", "occurred_at": "2025-11-27T09:41:00Z"},
                {"state": "shipped", "occurred_at": "2025-11-28T10:15:00Z"},
                {"state": "completed", "occurred_at": "2025-11-30T15:02:00Z"},
            ],
            "shipments": [
                {
                    "shipment_id": "SHP-556677",
                    "direction": "outbound",
                    "status": "delivered",
                    "carrier": "dhl",
                    "tracking_code": "00340434161234500000",
                    "linked_at": "2025-11-28T10:15:00Z",
                    "status_at": "2025-11-30T15:02:00Z",
                }
            ],
            "emit": False,
        },
    )


def outbound_examples() -> dict[str, CloudEvent]:
    """The first outbound event of each type that running the story through decide emits."""
    examples: dict[str, CloudEvent] = {}
    view: OrderView | None = None
    counter = 0
    for event in _story_events():
        role = INBOUND_TYPES[event.type].topic
        change = decode_event(event, role).change
        now = event.time + timedelta(milliseconds=40)
        decision = decide(view, change, DEFAULT_POLICY, now)
        if not isinstance(decision, Accepted):
            raise AssertionError(f"example story rejected {event.type}: {decision}")  # noqa: TRY004 -- a broken story is a bug, not a type error
        view = decision.new_view
        for fact in decision.emitted:
            counter += 1
            examples.setdefault(
                outbound_type(fact),
                outbound_event(
                    fact,
                    view,
                    event_id=f"5c1d7a90-0000-4000-8000-{counter:012d}",
                    now=now,
                    sequence=counter,
                ),
            )
    examples["event.rejected"] = _rejected_example()
    examples.update(_alert_examples())
    return examples


def _alert_examples() -> dict[str, CloudEvent]:
    """The story's order, paid at 09:41 and never prepared: due 48 hours later, cleared when
    the parcel finally ships."""
    paid = int(datetime(2026, 3, 2, 9, 41, tzinfo=UTC).timestamp() * 1000)
    due = paid + 48 * 3_600_000
    raised = due + 800
    alert = {
        "alert_id": alert_id(_SHOP, _ORDER, "state_deadline.paid", due),
        "rule": "state_deadline.paid",
        "order_id": _ORDER,
        "state": "paid",
        "since": "2026-03-02T09:41:00Z",
        "deadline": "2026-03-04T09:41:00Z",
        "raised_at": "2026-03-04T09:41:00.800000Z",
        "order_version": 6,
    }
    cleared = {
        **alert,
        "state": "shipped",
        "order_version": 7,
        "cleared_at": "2026-03-04T11:02:13.250000Z",
        "cleared_because": ClearedBecause.MOVED_ON.value,
    }
    AlertRaisedOut.model_validate(alert)
    AlertClearedOut.model_validate(cleared)
    cleared_ms = raised + (60 + 21) * 60_000 + 12_450
    return {
        "alert.raised": CloudEvent.model_validate(
            alert_event_data("alert.raised", shop_id=_SHOP, data=alert, time_ms=raised)
        ),
        "alert.cleared": CloudEvent.model_validate(
            alert_event_data("alert.cleared", shop_id=_SHOP, data=cleared, time_ms=cleared_ms)
        ),
    }


def _rejected_example() -> CloudEvent:
    original = _event(
        99, "order.state_changed", {"state": "shipped", "occurred_at": "2026-03-02T10:00:00Z"}, 30
    )
    return rejected_event(
        shop_id=_SHOP,
        order_id=_ORDER,
        reason=ReasonCode.STATE_NOT_SETTABLE,
        message=(
            f"Order {_ORDER}: 'shipped' cannot be requested; orderstate sets 'shipped' when the "
            "first outbound shipment is linked and 'completed' when boarding is complete and "
            "every outbound shipment is delivered. The order is 'paid'; allowed next states: "
            "in_production, warehouse_handover, in_preparation, cancelled."
        ),
        original=RejectedOriginal(
            topic="shop.orders.v1",
            partition=3,
            offset=1842,
            key=original.key,
            value=original.model_dump_json(exclude_none=True),
            event_id=original.id,
            event_type=original.type,
        ),
        event_id="5c1d7a90-0000-4000-8000-999999999999",
        now=_T0 + timedelta(minutes=30, milliseconds=40),
    )
