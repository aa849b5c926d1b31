"""One NDJSON line of `orderstate backfill` to its order.imported event: both shapes, and a
message naming the field for every way a line can be wrong."""

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orderstate.api.compat.profiles import PROFILES
from orderstate.api.compat.reading import Reading
from orderstate.backfill.lines import ImportLine, LineError, read_line
from orderstate.domain import ImportOrder, OrderState, ShipmentDirection, ShipmentStatus

SHOP = "shop-a"

# An order as GET /v2/orders returns it (the representation's own fields included).
REPRESENTATION: dict[str, Any] = {
    "id": "WEB-1",
    "iri": "/v2/orders/WEB-1",
    "order_id": "WEB-1",
    "order_url": "https://shop.example.com",
    "order_date": "2025-10-01T10:00:00Z",
    "language": "de",
    "promised_delivery_date": None,
    "boarding_complete": True,
    "order_tags": {"channel": "web"},
    "state": "shipped",
    "items": [
        {
            "item_id": "1",
            "sku": "TSHIRT-M",
            "name": None,
            "quantity": 2,
            "unit_price": "19.99",
            "currency": "EUR",
            "status": "open",
        }
    ],
    "shipments": [
        {
            "shipment_id": "SHP-1",
            "direction": "outbound",
            "return_parcel": False,
            "status": "in_transit",
            "carrier": "dhl",
            "tracking_code": "TC-1",
            "linked_at": "2025-10-02T09:00:00Z",
            "status_at": "2025-10-02T09:00:00Z",
        }
    ],
    "states_history": [
        {
            "state": "new",
            "datetime": "2025-10-01T10:00:00Z",
            "recorded_at": "2025-10-01T10:00:01Z",
            "location": None,
            "late": False,
            "cause_event_id": "a",
        },
        {
            "state": "paid",
            "datetime": "2025-10-01T11:00:00Z",
            "recorded_at": "2025-10-01T11:00:01Z",
            "location": None,
            "late": False,
            "cause_event_id": "b",
        },
        {
            "state": "shipped",
            "datetime": "2025-10-02T09:00:00Z",
            "recorded_at": "2025-10-02T09:00:01Z",
            "location": None,
            "late": False,
            "cause_event_id": "c",
        },
    ],
    "version": 3,
    "created_at": "2025-10-01T10:00:01Z",
    "updated_at": "2025-10-02T09:00:01Z",
    "alerts": [],
}

# The same order as Seven Senders exports it: legacy names, a carrier object, return_parcel,
# its carrier status, the customer's data, times with +0000 and without an offset.
SEVEN_SENDERS: dict[str, Any] = {
    "id": 123456789,
    "shop_order_id": "WEB-1",
    "shop_order_url": "https://shop.example.com",
    "shop_order_date": "2025-10-01T10:00:00+0000",
    "language": ["de_DE"],
    "boarding_complete": True,
    "order_tags": {"channel": "web"},
    "state": "shipped",
    "items": [
        {"item_id": "1", "sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99", "currency": "EUR"}
    ],
    "shipments": [
        {
            "id": 987654321,
            "reference_number": "SHP-1",
            "tracking_code": "TC-1",
            "carrier": {"name": "dhl", "country": "DE"},
            "return_parcel": False,
            "status": "Pickup",
            "customer_email": "someone@example.com",
            "recipient_city": "Berlin",
        }
    ],
    "states_history": [
        {"state": "new", "datetime": "2025-10-01T10:00:00+0000"},
        {"state": "paid", "datetime": "2025-10-01 11:00:00"},
        {"state": "shipped", "datetime": "2025-10-02T09:00:00+00:00"},
    ],
}


def line(body: Any) -> bytes:
    return json.dumps(body).encode()


def read(body: Any, *, emit: bool = False, reading: Reading | None = None) -> ImportLine:
    result = read_line(
        line(body), 7, shop_id=SHOP, reading=reading or Reading(), emit=emit, max_bytes=1 << 20
    )
    assert isinstance(result, ImportLine), result
    return result


def error(raw: bytes | Any, *, max_bytes: int = 1 << 20) -> LineError:
    data = raw if isinstance(raw, bytes) else line(raw)
    result = read_line(data, 7, shop_id=SHOP, reading=Reading(), emit=False, max_bytes=max_bytes)
    assert isinstance(result, LineError), result
    assert result.line_no == 7
    return result


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


class TestOrderstatesOwnShape:
    def test_becomes_an_order_imported_event_of_the_shop(self) -> None:
        imported = read(REPRESENTATION)

        event = imported.event
        assert (event.type, event.source, event.shopid, event.orderid) == (
            "order.imported",
            "orderstate/backfill",
            SHOP,
            "WEB-1",
        )
        assert event.time.isoformat() == "2025-10-02T09:00:00+00:00"
        change = imported.decoded.change
        assert isinstance(change, ImportOrder)
        assert change.state is OrderState.SHIPPED
        assert [(h.state.value, h.occurred_at.isoformat()) for h in change.history] == [
            ("new", "2025-10-01T10:00:00+00:00"),
            ("paid", "2025-10-01T11:00:00+00:00"),
            ("shipped", "2025-10-02T09:00:00+00:00"),
        ]
        assert change.boarding_complete is True
        assert change.emit is False

    def test_what_orderstate_derives_again_is_not_imported(self) -> None:
        imported = read(REPRESENTATION)

        assert "version" not in imported.event.data
        assert set(imported.ignored) == {
            "id",
            "iri",
            "version",
            "created_at",
            "updated_at",
            "alerts",
            *(
                f"states_history.{n}.{name}"
                for n in range(3)
                for name in ("recorded_at", "cause_event_id")
            ),
        }


class TestSevenSendersShape:
    def test_is_the_same_order_and_the_same_event_as_orderstates_shape(self) -> None:
        ours = read(REPRESENTATION)
        theirs = read(SEVEN_SENDERS)

        assert theirs.order_id == "WEB-1"
        assert theirs.decoded.change == ours.decoded.change
        assert theirs.event.id == ours.event.id

    def test_shipments_are_read_as_seven_senders_writes_them(self) -> None:
        change = read(SEVEN_SENDERS).decoded.change
        assert isinstance(change, ImportOrder)

        (shipment,) = change.shipments
        assert shipment.shipment_id == "SHP-1"
        assert shipment.direction is ShipmentDirection.OUTBOUND
        assert shipment.status is ShipmentStatus.IN_TRANSIT
        assert shipment.carrier == "dhl"
        # No link time of its own: linked when the order shipped (Seven Senders ships an
        # order when its first shipment is linked).
        assert shipment.linked_at.isoformat() == "2025-10-02T09:00:00+00:00"

    def test_personal_data_is_dropped_and_named(self) -> None:
        imported = read(SEVEN_SENDERS)

        text = imported.event.model_dump_json()
        assert "someone@example.com" not in text and "Berlin" not in text
        assert {"shipments.0.customer_email", "shipments.0.recipient_city"} <= set(imported.ignored)

    def test_a_number_as_order_id_is_its_decimal_string(self) -> None:
        assert read(with_(SEVEN_SENDERS, shop_order_id=1001)).order_id == "1001"

    def test_naive_times_are_read_in_the_chosen_zone(self) -> None:
        berlin = Reading(zone=ZoneInfo("Europe/Berlin"))
        change = read(SEVEN_SENDERS, reading=berlin).decoded.change
        assert isinstance(change, ImportOrder)

        assert change.history[1].occurred_at.isoformat() == "2025-10-01T11:00:00+02:00"

    def test_a_missing_boarding_complete_follows_the_profile(self) -> None:
        body = {k: v for k, v in SEVEN_SENDERS.items() if k != "boarding_complete"}

        standard = read(body).decoded.change
        seven = read(body, reading=Reading(profile=PROFILES["sevensenders"])).decoded.change

        assert isinstance(standard, ImportOrder) and isinstance(seven, ImportOrder)
        assert (standard.boarding_complete, seven.boarding_complete) == (False, True)

    @pytest.mark.parametrize(
        ("sent", "read_as"),
        [("New", "new"), ("Info", "info_received"), ("Out for delivery", "out_for_delivery")],
    )
    def test_carrier_statuses(self, sent: str, read_as: str) -> None:
        shipment = {**SEVEN_SENDERS["shipments"][0], "status": sent}
        change = read(with_(SEVEN_SENDERS, shipments=[shipment])).decoded.change
        assert isinstance(change, ImportOrder)

        assert change.shipments[0].status.value == read_as


class TestEventIds:
    def test_are_the_same_for_the_same_order_whatever_emit_says(self) -> None:
        assert read(REPRESENTATION).event.id == read(REPRESENTATION, emit=True).event.id

    def test_differ_when_the_content_differs(self) -> None:
        other = with_(REPRESENTATION, order_tags={"channel": "app"})

        assert read(REPRESENTATION).event.id != read(other).event.id

    def test_emit_travels_in_the_record(self) -> None:
        assert read(REPRESENTATION, emit=True).event.data["emit"] is True


def test_an_order_without_history_is_new_at_its_order_date() -> None:
    body = {"order_id": "A-1", "order_date": "2025-01-02T03:04:05Z"}
    change = read(body).decoded.change
    assert isinstance(change, ImportOrder)

    assert change.state is OrderState.NEW
    assert [(h.state, h.occurred_at.isoformat()) for h in change.history] == [
        (OrderState.NEW, "2025-01-02T03:04:05+00:00")
    ]


def test_the_state_defaults_to_the_last_state_that_is_not_late() -> None:
    body = with_(REPRESENTATION, state=None)
    history = [*REPRESENTATION["states_history"]]
    history.append({"state": "in_preparation", "datetime": "2025-10-01T12:00:00Z", "late": True})
    change = read(with_(body, states_history=history)).decoded.change
    assert isinstance(change, ImportOrder)

    assert change.state is OrderState.SHIPPED
    assert change.history[-1].late is True


class TestInvalidLines:
    def test_not_json(self) -> None:
        assert "not valid JSON" in error(b'{"order_id": "A-1",').message

    def test_not_an_object(self) -> None:
        assert error(b"[1, 2]").message == "a line must be one JSON object: an order"

    def test_too_large(self) -> None:
        message = error(line(REPRESENTATION), max_bytes=1024).message
        assert "the limit is 1024 bytes" in message

    def test_missing_order_id(self) -> None:
        body = {k: v for k, v in REPRESENTATION.items() if k != "order_id"}
        assert error(body).message == "order_id (or shop_order_id) is missing"

    def test_missing_order_date_names_the_field(self) -> None:
        body = {k: v for k, v in REPRESENTATION.items() if k != "order_date"}
        found = error(body)
        assert found.order_id == "WEB-1"
        assert "order_date" in found.message

    def test_unknown_state_names_the_entry(self) -> None:
        history = [*REPRESENTATION["states_history"]]
        history[1] = {**history[1], "state": "payed"}
        found = error(with_(REPRESENTATION, states_history=history))
        assert found.message.startswith("states_history.1.state: ")

    def test_a_state_that_is_not_the_last_of_the_history(self) -> None:
        found = error(with_(REPRESENTATION, state="paid"))
        assert found.message == (
            "state 'paid' is not the last state of states_history that is not late ('shipped')"
        )

    def test_a_state_other_than_new_needs_a_history(self) -> None:
        body = {"order_id": "A-1", "order_date": "2025-01-02T03:04:05Z", "state": "paid"}
        assert error(body).message.startswith("state 'paid' needs states_history")

    def test_unknown_shipment_status(self) -> None:
        shipment = {**SEVEN_SENDERS["shipments"][0], "status": "Lost in space"}
        found = error(with_(SEVEN_SENDERS, shipments=[shipment]))
        assert found.message.startswith("shipments.0.status: unknown shipment status")

    def test_a_shipment_without_a_link_time_or_a_shipped_state(self) -> None:
        body = {
            "order_id": "A-1",
            "order_date": "2025-01-02T03:04:05Z",
            "shipments": [{"tracking_code": "T"}],
        }
        assert error(body).message.startswith("shipments.0.linked_at is missing")

    def test_a_legacy_and_a_current_name_with_two_values(self) -> None:
        found = error(with_(REPRESENTATION, shop_order_id="WEB-2"))
        assert "shop_order_id is the legacy name of order_id" in found.message
