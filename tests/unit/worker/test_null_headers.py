"""A header with a null value (Kafka allows one; aiokafka reads it as None) makes its record
malformed, kept with its headers: it must not raise out of the fetch loop, where a record
that fails every time it is read would stop its partition pair for good."""

from dataclasses import dataclass

from orderstate.events.decode import DecodeLimits
from orderstate.events.topics import TopicRole
from orderstate.projector.inputs import Input, Malformed, Position
from orderstate.worker.records import MARKER_HEADER, Read, read_record
from tests.support.hostile_records import valid_record


@dataclass
class _Record:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    topic: str = "shop.orders.v1"
    partition: int = 2
    offset: int = 40
    timestamp: int = 1_767_225_600_000


def _read_with(
    headers: list[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> tuple[Read, Input]:
    record = _Record(key, value, headers)
    read = read_record(record, TopicRole.ORDERS_IN, DecodeLimits())
    position = Position(record.topic, record.partition, record.offset, 0, 0, 0)
    return read, read.input(record, TopicRole.ORDERS_IN, position)


def test_a_null_attribute_header_is_malformed_and_kept() -> None:
    key, value, headers = valid_record("shop-n", "N-1", "n-1")
    nulled = [(n, None if n == "ce_id" else v) for n, v in headers]
    read, made = _read_with(nulled, key, value)
    assert read.error is not None
    assert read.error.message == "header 'ce_id' has a null value; send text or leave it out"
    assert isinstance(made, Malformed)
    assert made.original.headers["ce_id"] == ""
    assert made.original.headers["ce_type"] == "order.created"


def test_a_null_header_of_someone_else_is_malformed_too() -> None:
    key, value, headers = valid_record("shop-n", "N-2", "n-2")
    read, made = _read_with([*headers, ("traceparent", None)], key, value)
    assert read.error is not None
    assert "'traceparent' has a null value" in read.error.message
    assert isinstance(made, Malformed)


def test_a_marker_header_with_a_null_value_is_no_marker() -> None:
    read, made = _read_with([(MARKER_HEADER, None)], None, b"")
    assert not read.marker
    assert isinstance(made, Malformed)
