"""Decoding inbound records: every bad input is one DecodeError with reason ``malformed``."""

import codecs
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from orderstate.domain import CreateOrder, ReasonCode, RequestState
from orderstate.events.decode import DecodeLimits, decode_record
from orderstate.events.envelope import CloudEvent, encode_binary, encode_structured
from orderstate.events.errors import DecodeError
from orderstate.events.topics import TopicRole

ORDERS = TopicRole.ORDERS_IN


def created_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_date": "2026-03-02T09:30:00Z",
        "items": [
            {
                "item_id": "line-1",
                "sku": "SKU-1",
                "quantity": 2,
                "unit_price": "19.99",
                "currency": "EUR",
            }
        ],
    }
    data.update(overrides)
    return data


def binary_record(
    data: Any = None,
    *,
    type_name: str = "order.created",
    key: bytes | None = b"shop-1:ORD-1",
    drop: tuple[str, ...] = (),
    **attributes: str,
) -> dict[str, Any]:
    headers = {
        "ce_specversion": "1.0",
        "ce_id": "evt-1",
        "ce_source": "https://shop.example.com",
        "ce_type": type_name,
        "ce_time": "2026-03-02T09:31:00Z",
        "ce_shopid": "shop-1",
        "ce_orderid": "ORD-1",
        "content-type": "application/json",
        **{f"ce_{k}": v for k, v in attributes.items()},
    }
    for name in drop:
        del headers[name]
    value = json.dumps(created_data() if data is None else data).encode()
    return {
        "key": key,
        "value": value,
        "headers": [(k, v.encode()) for k, v in headers.items()],
    }


def malformed(record: dict[str, Any], limits: DecodeLimits | None = None) -> str:
    with pytest.raises(DecodeError) as caught:
        if limits is None:
            decode_record(**record, topic_role=ORDERS)
        else:
            decode_record(**record, topic_role=ORDERS, limits=limits)
    assert caught.value.reason is ReasonCode.MALFORMED
    return caught.value.message


class TestGoodInput:
    def test_binary_mode_order_created_becomes_create_order(self) -> None:
        decoded = decode_record(**binary_record(), topic_role=ORDERS)
        change = decoded.change
        assert isinstance(change, CreateOrder)
        assert (change.shop_id, change.order_id, change.event_id) == ("shop-1", "ORD-1", "evt-1")
        assert change.occurred_at == datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
        assert change.items[0].unit_price == Decimal("19.99")

    def test_a_byte_order_mark_before_the_value_is_ignored(self) -> None:
        record = binary_record()
        record["value"] = codecs.BOM_UTF8 + record["value"]
        assert isinstance(decode_record(**record, topic_role=ORDERS).change, CreateOrder)

    def test_structured_mode_is_read_too(self) -> None:
        body = {
            "specversion": "1.0",
            "id": "evt-2",
            "source": "urn:shop",
            "type": "order.state_changed",
            "time": "2026-03-02T10:00:00+01:00",
            "shopid": "shop-1",
            "orderid": "ORD-1",
            "data": {"state": "paid", "occurred_at": "2026-03-02T09:58:00+01:00"},
        }
        decoded = decode_record(
            key=b"shop-1:ORD-1",
            value=json.dumps(body).encode(),
            headers=[("content-type", b"application/cloudevents+json")],
            topic_role=ORDERS,
        )
        assert isinstance(decoded.change, RequestState)
        # The state's own time wins over the envelope time.
        assert decoded.change.occurred_at == datetime(2026, 3, 2, 8, 58, tzinfo=UTC)

    @pytest.mark.parametrize("encode", [encode_binary, encode_structured])
    def test_encode_then_decode_round_trips(self, encode: Any) -> None:
        event = CloudEvent(
            specversion="1.0",
            id="evt-3",
            source="orderstate",
            type="order.state_changed",
            time=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            shopid="shop-1",
            orderid="ORD-1",
            data={"state": "paid", "occurred_at": "2026-03-02T09:00:00Z"},
        )
        headers, value = encode(event)
        decoded = decode_record(
            key=b"shop-1:ORD-1", value=value, headers=headers, topic_role=ORDERS
        )
        assert decoded.event == event

    @pytest.mark.parametrize(
        "order_id", ["WEB #1001/2", "Bestellung Müller 7", "注文:2026/11", "a:b:c", "%2F"]
    )
    def test_order_references_as_shops_write_them(self, order_id: str) -> None:
        # Keyed by UTF-8 "<shop_id>:<order_id>": the first ':' ends the shop id.
        record = binary_record(key=f"shop-1:{order_id}".encode(), orderid=order_id)
        decoded = decode_record(**record, topic_role=ORDERS)
        assert (decoded.change.shop_id, decoded.change.order_id) == ("shop-1", order_id)

    def test_outbound_sequence_header_is_read_as_integer(self) -> None:
        event = CloudEvent(
            specversion="1.0",
            id="evt-4",
            source="orderstate",
            type="order.deleted",
            time=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            shopid="shop-1",
            orderid="ORD-1",
            sequence=7,
            data={},
        )
        headers, _ = encode_binary(event)
        assert ("ce_sequence", b"7") in headers


def test_header_names_in_any_case_are_read_alike() -> None:
    record = binary_record()
    shouted = {
        **record,
        "headers": [(name.upper(), value) for name, value in record["headers"]],
    }
    mixed = {
        **record,
        "headers": [(name.title(), value) for name, value in record["headers"]],
    }

    expected = decode_record(**record, topic_role=ORDERS)
    for variant in (shouted, mixed):
        assert decode_record(**variant, topic_role=ORDERS) == expected


class TestMalformedInput:
    def test_invalid_json(self) -> None:
        record = binary_record()
        record["value"] = b'{"order_date": '
        assert "not valid JSON" in malformed(record)

    def test_wrong_type_names_the_field(self) -> None:
        items = [{"item_id": "l1", "sku": "S", "quantity": "two"}]
        message = malformed(binary_record(created_data(items=items)))
        assert message.startswith("data.items.0.quantity:")

    def test_missing_required_attribute(self) -> None:
        message = malformed(binary_record(drop=("ce_id",)))
        assert message == "id: Field required"

    def test_unknown_event_type(self) -> None:
        message = malformed(binary_record(type_name="order.teleported"))
        assert message.startswith("unknown event type 'order.teleported'; known types: ")
        assert "order.created" in message

    def test_type_on_the_wrong_topic(self) -> None:
        data = {"shipment_id": "S1", "direction": "outbound"}
        message = malformed(binary_record(data, type_name="shipment.created"))
        assert message == (
            "event type 'shipment.created' does not belong on this topic; "
            "publish it to shop.shipments.v1"
        )

    def test_event_time_without_timezone(self) -> None:
        message = malformed(binary_record(time="2026-03-02T09:31:00"))
        assert message.startswith("time: Input should have timezone info")

    def test_data_datetime_without_timezone(self) -> None:
        message = malformed(binary_record(created_data(order_date="2026-03-02T09:30:00")))
        assert message.startswith("data.order_date: Input should have timezone info")

    def test_negative_quantity(self) -> None:
        items = [{"item_id": "l1", "sku": "S", "quantity": -1}]
        message = malformed(binary_record(created_data(items=items)))
        assert message == "data.items.0.quantity: Input should be greater than or equal to 1"

    def test_unknown_currency(self) -> None:
        items = [
            {"item_id": "l1", "sku": "S", "quantity": 1, "unit_price": "1.00", "currency": "EUX"}
        ]
        message = malformed(binary_record(created_data(items=items)))
        assert message == (
            "data.items.0.currency: Value error, unknown ISO 4217 currency code 'EUX'"
        )

    def test_money_as_float(self) -> None:
        items = [
            {"item_id": "l1", "sku": "S", "quantity": 1, "unit_price": 19.99, "currency": "EUR"}
        ]
        message = malformed(binary_record(created_data(items=items)))
        assert message == "data.items.0.unit_price: Input should be a valid string"

    def test_price_without_currency(self) -> None:
        items = [{"item_id": "l1", "sku": "S", "quantity": 1, "unit_price": "1.00"}]
        message = malformed(binary_record(created_data(items=items)))
        assert "unit_price and currency go together" in message

    def test_payload_over_the_size_limit(self) -> None:
        record = binary_record(created_data(order_tags={"note": "x" * 200}))
        message = malformed(record, DecodeLimits(max_payload_bytes=100))
        assert (
            message == f"the record value is {len(record['value'])} bytes; the limit is 100 bytes"
        )

    def test_default_size_limit_is_one_mebibyte(self) -> None:
        record = binary_record()
        record["value"] = b" " * (1024 * 1024) + record["value"]
        assert "the limit is 1048576 bytes" in malformed(record)

    def test_nesting_deeper_than_32_levels(self) -> None:
        nested: Any = "leaf"
        for _ in range(33):
            nested = {"n": nested}
        message = malformed(binary_record(created_data(extra=nested)))
        assert message == "the record value nests deeper than 32 levels"

    def test_nesting_of_32_levels_reaches_the_schema(self) -> None:
        nested: Any = "leaf"
        for _ in range(30):
            nested = {"n": nested}
        # Depth 32 passes the depth check and fails only on the unknown field.
        message = malformed(binary_record(created_data(extra=nested)))
        assert message.startswith("data.extra: Extra inputs are not permitted")

    def test_extremely_deep_nesting_does_not_crash(self) -> None:
        record = binary_record()
        record["value"] = b"[" * 100_000 + b"]" * 100_000
        assert "nests deeper than 32 levels" in malformed(record)

    def test_more_than_1000_items(self) -> None:
        items = [{"item_id": f"l{i}", "sku": "S", "quantity": 1} for i in range(1001)]
        message = malformed(binary_record(created_data(items=items)))
        assert (
            message == "data.items: List should have at most 1000 items after validation, not 1001"
        )

    def test_string_over_its_length_limit(self) -> None:
        items = [{"item_id": "l1", "sku": "S" * 257, "quantity": 1}]
        message = malformed(binary_record(created_data(items=items)))
        assert message == "data.items.0.sku: String should have at most 256 characters"

    def test_key_not_matching_shopid_orderid(self) -> None:
        message = malformed(binary_record(key=b"shop-1:ORD-2"))
        assert (
            message == "the record key 'shop-1:ORD-2' does not match shopid:orderid 'shop-1:ORD-1'"
        )

    def test_missing_key(self) -> None:
        message = malformed(binary_record(key=None))
        assert message == "the record has no key; it must be 'shop-1:ORD-1' (shopid:orderid)"

    def test_shop_id_with_a_colon(self) -> None:
        # The key splits at the first ':', so a shop id must never hold one.
        message = malformed(binary_record(key=b"shop:1:ORD-1", shopid="shop:1"))
        assert message.startswith("shopid: String should match pattern")

    def test_order_id_with_a_control_character(self) -> None:
        message = malformed(binary_record(key=b"shop-1:ORD\t1", orderid="ORD\t1"))
        assert message == (
            "orderid: Value error, 'ORD\\t1' is not a valid reference: 1-128 characters; any "
            "character but control characters, U+2028/U+2029 and the bidi controls "
            "U+202A-U+202E/U+2066-U+2069; no white space at either end; not '.' or '..'"
        )

    def test_order_id_with_white_space_at_an_end(self) -> None:
        message = malformed(binary_record(key=b"shop-1:ORD-1 ", orderid="ORD-1 "))
        assert message.startswith("orderid: Value error, 'ORD-1 ' is not a valid reference")

    def test_unknown_field_in_data(self) -> None:
        message = malformed(binary_record(created_data(customer_email="a@b.example")))
        assert message == "data.customer_email: Extra inputs are not permitted"

    def test_tombstone(self) -> None:
        record = binary_record()
        record["value"] = None
        assert malformed(record) == "the record has no value (a tombstone is not an event)"

    def test_neither_binary_nor_structured(self) -> None:
        record = {"key": b"shop-1:ORD-1", "value": b'{"hello": 1}', "headers": []}
        assert malformed(record).startswith("not a CloudEvent: no ce_specversion header")

    def test_header_that_is_not_utf8(self) -> None:
        record = binary_record()
        record["headers"].append(("ce_subject", b"\xff\xfe"))
        assert malformed(record) == "header 'ce_subject' is not UTF-8"

    def test_value_that_is_not_utf8_names_the_byte(self) -> None:
        record = binary_record()
        record["value"] = b'{"order_date": "\xff"}'
        assert malformed(record) == "the record value is not UTF-8: byte 16 (b'\\xff')"

    def test_after_a_byte_order_mark_the_byte_is_counted_from_the_record_start(self) -> None:
        record = binary_record()
        record["value"] = codecs.BOM_UTF8 + b'{"order_date": "\xff"}'
        assert malformed(record) == "the record value is not UTF-8: byte 19 (b'\\xff')"

    def test_data_that_is_not_an_object(self) -> None:
        assert malformed(binary_record([1, 2])) == "data must be a JSON object"

    def test_unsupported_spec_version(self) -> None:
        assert malformed(binary_record(specversion="0.3")).startswith(
            "specversion: Input should be '1.0'"
        )


class TestNulCharacters:
    def test_nul_in_data_is_malformed(self) -> None:
        message = malformed(binary_record(created_data(order_tags={"note": "a\u0000b"})))
        assert message == (
            "data.order_tags.note contains a NUL character (\\u0000), which is not allowed"
        )

    def test_nul_in_an_attribute_is_malformed(self) -> None:
        message = malformed(binary_record(source="https://shop\u0000.example.com"))
        assert message.startswith("source contains a NUL character")


class TestExtensionAttributes:
    """CloudEvents 1.0 lets producers add extension attributes; a consumer ignores those it
    does not know. Names must still be CloudEvents attribute names."""

    @pytest.mark.parametrize("name", ["traceparent", "tracestate", "partitionkey", "x1", "a" * 20])
    def test_an_unknown_extension_is_accepted_and_ignored(self, name: str) -> None:
        record = binary_record()
        record["headers"].append((f"ce_{name}", b"00-4bf92f3577b34da6a3ce929d0e0e4736-01"))
        decoded = decode_record(**record, topic_role=ORDERS)
        assert decoded.event.id == "evt-1"
        assert name not in decoded.event.model_dump()

    def test_an_unknown_extension_in_structured_mode_is_accepted(self) -> None:
        key, value, headers = _structured({"traceparent": "00-abc-01", "retries": 3})
        decoded = decode_record(key=key, value=value, headers=headers, topic_role=ORDERS)
        assert decoded.event.id == "evt-1"

    @pytest.mark.parametrize(
        "name", ["trace_parent", "TraceParent-", "a" * 21, "", "ünicode", "trace parent"]
    )
    def test_a_name_cloudevents_does_not_allow_is_malformed(self, name: str) -> None:
        record = binary_record()
        record["headers"].append((f"ce_{name}", b"x"))
        assert "CloudEvents attribute names are 1-20 lower-case letters" in malformed(record)

    def test_an_extension_value_that_is_no_cloudevents_type_is_malformed(self) -> None:
        key, value, headers = _structured({"traceparent": {"nested": True}})
        with pytest.raises(DecodeError) as caught:
            decode_record(key=key, value=value, headers=headers, topic_role=ORDERS)
        assert "must be a string, an integer or a boolean" in caught.value.message


class TestRepeatedAttributes:
    @pytest.mark.parametrize("name", ["ce_id", "ce_type", "ce_shopid", "content-type"])
    def test_a_header_given_twice_is_malformed(self, name: str) -> None:
        record = binary_record()
        value = dict(record["headers"])[name]
        record["headers"].append((name, value))
        assert malformed(record) == f"header {name!r} is given twice"

    def test_one_attribute_in_two_spellings_is_given_twice(self) -> None:
        # Header names are read case-blind: "CE_ID" and "ce_id" name one attribute.
        record = binary_record()
        record["headers"].append(("CE_ID", b"evt-2"))
        assert malformed(record) == "header 'CE_ID' is given twice"

    def test_a_member_given_twice_in_a_structured_event_is_malformed(self) -> None:
        key, value, headers = _structured({})
        value = value[:-1] + b', "type": "order.deleted"}'
        with pytest.raises(DecodeError) as caught:
            decode_record(key=key, value=value, headers=headers, topic_role=ORDERS)
        assert caught.value.message == "the structured event names 'type' twice in one object"


def _structured(extra: dict[str, Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "https://shop.example.com",
        "type": "order.created",
        "time": "2026-03-02T09:31:00Z",
        "shopid": "shop-1",
        "orderid": "ORD-1",
        "data": created_data(),
        **extra,
    }
    return (
        b"shop-1:ORD-1",
        json.dumps(event).encode(),
        [("content-type", b"application/cloudevents+json")],
    )


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON", "application/json; charset=utf-8"]
)
def test_the_data_content_type_is_json_in_any_case_with_parameters(content_type: str) -> None:
    record = binary_record()
    record["headers"] = [
        (k, content_type.encode() if k == "content-type" else v) for k, v in record["headers"]
    ]
    assert decode_record(**record, topic_role=ORDERS).event.id == "evt-1"


@pytest.mark.parametrize("content_type", ["application/jsonl", "application/json-patch+json"])
def test_a_media_type_that_only_begins_like_json_is_refused(content_type: str) -> None:
    # A prefix match took these for JSON.
    record = binary_record()
    record["headers"] = [
        (k, content_type.encode() if k == "content-type" else v) for k, v in record["headers"]
    ]
    assert malformed(record) == f"content-type {content_type!r}: data must be application/json"
