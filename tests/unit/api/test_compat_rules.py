"""The compatibility rules as pure functions: what each Seven Senders shape is read as."""

from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from orderstate.api.compat.normalise import (
    ORDER_CREATE,
    ORDER_STATE,
    ORDER_UPDATE,
    SHIPMENT_CREATE,
    CompatError,
    normalise,
)
from orderstate.api.compat.paths import decode_segment, route_path
from orderstate.api.compat.profiles import PROFILES
from orderstate.api.compat.reading import Reading
from orderstate.api.requests import OrderStateCreate

BERLIN = Reading(zone=ZoneInfo("Europe/Berlin"))


class TestDatetimes:
    @pytest.mark.parametrize(
        ("sent", "read"),
        [
            # Spryker: Propel's timestamp text, no offset.
            ("2026-11-27 09:30:00.000000", "2026-11-27T09:30:00+01:00"),
            ("2026-07-01T08:00:00", "2026-07-01T08:00:00+02:00"),
            # With an offset: passed on untouched.
            ("2026-11-27T09:30:00+00:00", "2026-11-27T09:30:00+00:00"),
            ("2017-08-10T05:45:00+0000", "2017-08-10T05:45:00+0000"),
            ("", None),
            ("next tuesday", "next tuesday"),
        ],
    )
    def test_naive_ones_are_read_in_the_zone(self, sent: str, read: str | None) -> None:
        data = normalise({"datetime": sent}, ORDER_STATE, BERLIN).data
        assert data["datetime"] == read

    @pytest.mark.parametrize(
        "sent",
        # fromisoformat reads all of these; none is a date and a time as RFC 3339 writes it.
        ["2026-11-27", "2026-W48-5", "20261127T0930", "20261127"],
    )
    def test_other_iso_forms_are_left_for_the_model_to_refuse(self, sent: str) -> None:
        data = normalise({"datetime": sent}, ORDER_STATE, BERLIN).data
        assert data["datetime"] == sent
        with pytest.raises(ValidationError, match="must be an RFC 3339 date-time"):
            OrderStateCreate.model_validate({"order_id": "A-1", "state": "paid", **data})

    def test_utc_by_default(self) -> None:
        data = normalise({"order_date": "2026-11-27 09:30:00"}, ORDER_UPDATE, Reading()).data
        assert data["order_date"] == "2026-11-27T09:30:00+00:00"
        assert Reading().zone is UTC


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("de_DE", "de"),
        ("en_GB.UTF-8", "en"),
        ("de_DE@euro", "de"),
        ("DE", "de"),
        ("de-de", "de-DE"),
        ("", None),
        ("  ", None),
        (["fr", "de"], "fr"),
        ([], None),
        ("deutsch", "deutsch"),
    ],
)
def test_languages(sent: Any, read: str | None) -> None:
    assert normalise({"language": sent}, ORDER_UPDATE, Reading()).data["language"] == read


def test_legacy_order_names_and_values() -> None:
    body = {
        "shop_order_id": 1001,
        "shop_order_url": "",
        "shop_order_date": "2026-11-27T09:30:00Z",
        "order_tags": ["vip", "SKU 1"],
    }
    data = normalise(body, ORDER_CREATE, Reading()).data
    assert data == {
        "order_id": "1001",
        "order_url": None,
        "order_date": "2026-11-27T09:30:00Z",
        "order_tags": {"vip": "", "SKU 1": ""},
    }


def test_two_names_with_one_value_are_one_field() -> None:
    data = normalise({"order_id": "A", "shop_order_id": "A"}, ORDER_STATE, Reading()).data
    assert data == {"order_id": "A"}
    with pytest.raises(CompatError) as refused:
        normalise({"order_id": "A", "shop_order_id": "B"}, ORDER_STATE, Reading())
    assert refused.value.field_path == "shop_order_id"


class TestFields:
    def test_known_unused_unknown_and_personal(self) -> None:
        body = {
            "order_id": "A",
            "tracking_code": "T",
            "carrier": {"name": "dhl", "country": "DE", "hub": 3},
            "weight": 0,
            "recipient_email": "e@example.com",
            "recipient_whatever": "x",
            "colour": "red",
        }
        out = normalise(body, SHIPMENT_CREATE, Reading())
        assert out.data == {"order_id": "A", "tracking_code": "T", "carrier": "dhl"}
        assert out.ignored == [
            "weight",
            "recipient_email",
            "recipient_whatever",
            "colour",
            "carrier.country",
            "carrier.hub",
        ]
        assert out.unknown == ["colour", "carrier.hub"]
        # Metric labels stay a bounded set whatever names a client sends.
        assert out.labels["recipient_whatever"] == "recipient_*"
        assert out.labels["colour"] == "(unknown)"

    def test_an_embedded_order_is_read_by_the_order_rules(self) -> None:
        body = {"order_id": "A", "tracking_code": "T", "order": {"language": "de_AT", "x": 1}}
        out = normalise(body, SHIPMENT_CREATE, Reading())
        assert out.data["order"] == {"language": "de"}
        assert out.unknown == ["order.x"]


class TestProfiles:
    def test_standard_keeps_orderstates_defaults(self) -> None:
        out = normalise({"order_id": "A", "return_parcel": True}, SHIPMENT_CREATE, Reading())
        assert out.data["return_parcel"] is True
        assert "boarding_complete" not in normalise({}, ORDER_CREATE, Reading()).data

    @pytest.mark.parametrize("name", ["sevensenders", "woocommerce", "spryker"])
    def test_boarding_left_out_or_null_counts_as_complete(self, name: str) -> None:
        reading = Reading(profile=PROFILES[name])
        assert normalise({}, ORDER_CREATE, reading).data == {"boarding_complete": True}
        null = normalise({"boarding_complete": None}, ORDER_CREATE, reading).data
        assert null == {"boarding_complete": True}
        given = normalise({"boarding_complete": False}, ORDER_CREATE, reading).data
        assert given == {"boarding_complete": False}

    def test_spryker_ignores_return_parcel(self) -> None:
        reading = Reading(profile=PROFILES["spryker"])
        out = normalise({"order_id": "A", "return_parcel": True}, SHIPMENT_CREATE, reading)
        assert "return_parcel" not in out.data
        assert out.ignored == ["return_parcel"]
        assert out.unknown == []


class TestPaths:
    @pytest.mark.parametrize(
        ("raw", "path"),
        [
            (b"/v2/order_states", "/v2/order-states"),
            (b"/v2/orders.json", "/v2/orders"),
            (b"/v2/orders/A-1.json", "/v2/orders/A-1"),
            (b"/v2/order-states.json", "/v2/order-states"),
            (b"/v2/shipments/S-1.json", "/v2/shipments/S-1"),
            (b"/v2/carriers.json", "/v2/carriers"),
            (b"/v2/orders/A-1/items.json", "/v2/orders/A-1/items.json"),
            (b"/v2/openapi.json", "/v2/openapi.json"),
            (b"/v2/orders/WEB%20%231001%2F2", "/v2/orders/WEB #1001%2F2"),
            (b"/v2/orders/%C3%84%2f1", "/v2/orders/Ä%2F1"),
        ],
    )
    def test_route_paths(self, raw: bytes, path: str) -> None:
        assert route_path(raw, "(decoded by the server)") == path

    def test_without_a_raw_path_the_servers_path_is_used(self) -> None:
        assert route_path(None, "/v2/order_states") == "/v2/order-states"

    @pytest.mark.parametrize(
        ("segment", "reference"),
        [("A%2FB", "A/B"), ("100%25", "100%"), ("%252F", "%2F"), ("a%2fb", "a/b")],
    )
    def test_segments(self, segment: str, reference: str) -> None:
        assert decode_segment(segment) == reference
