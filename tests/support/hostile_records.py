"""Hostile Kafka records for the inbound topics, as hypothesis strategies.

Each record has a ``kind``: what an attacker or a broken producer did to it. The unit fuzzer
(tests/unit/events/test_decode_fuzz.py) feeds them to ``decode_record``; the pipeline fuzzer
(tests/integration/test_hostile_records.py) and bench/security.py produce them to a real
broker in front of a running worker.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "KINDS",
    "AnyRecord",
    "HostileRecord",
    "Record",
    "hostile_records",
    "valid_record",
]

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
# A header's value may be null on the wire (aiokafka sends and reads None).
AnyRecord = tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]]]

# What each kind does; every one must end as malformed or decided, never as a crash.
KINDS = (
    "valid",
    "random_bytes",
    "broken_json",
    "deep_nesting",
    "huge_string",
    "bad_utf8_key",
    "bad_utf8_header",
    "null_header",
    "wrong_type",
    "attribute_missing",
    "attribute_duplicated",
    "extension_attribute",
    "structured_mode",
)
_REQUIRED = ("specversion", "id", "source", "type", "time", "shopid", "orderid")
_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_ORDER_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,11}", fullmatch=True)


@dataclass(frozen=True, slots=True)
class HostileRecord:
    kind: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]

    @property
    def record(self) -> AnyRecord:
        return self.key, self.value, self.headers


def valid_record(shop: str, order: str, event_id: str) -> Record:
    """An ``order.created`` in binary content mode, as a shop platform publishes it."""
    attributes = _attributes(shop, order, event_id)
    headers = [(f"ce_{name}", value.encode()) for name, value in attributes.items()]
    headers.append(("content-type", b"application/json"))
    return f"{shop}:{order}".encode(), json.dumps(_data()).encode(), headers


def _attributes(shop: str, order: str, event_id: str) -> dict[str, str]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:fuzz",
        "type": "order.created",
        "time": "2026-03-02T09:31:00Z",
        "shopid": shop,
        "orderid": order,
    }


def _data() -> dict[str, Any]:
    return {
        "order_date": "2026-03-02T09:30:00Z",
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


@st.composite
def hostile_records(
    draw: st.DrawFn, *, shop: str = "fuzz-shop", max_bytes: int = 1_100_000
) -> HostileRecord:
    """One record of a kind drawn from KINDS. ``max_bytes`` bounds huge values (a broker
    refuses records over its message.max.bytes)."""
    kind = draw(st.sampled_from(KINDS))
    order = draw(_ORDER_IDS)
    event_id = f"fz-{draw(st.uuids())}"
    key, value, headers = valid_record(shop, order, event_id)
    assert key is not None and value is not None
    if kind == "structured_mode":
        value, headers = draw(_structured(shop, order, event_id))
    elif kind != "valid":
        return HostileRecord(kind, *_MUTATIONS[kind](draw, key, value, headers, max_bytes))
    return HostileRecord(kind, key, value, headers)


Mutation = Callable[[st.DrawFn, bytes, bytes, list[tuple[str, bytes]], int], AnyRecord]


def _random_bytes(draw: st.DrawFn, key: bytes, value: bytes, headers: Any, _: int) -> Record:
    new_key = draw(st.none() | st.binary(max_size=64))
    # A producer must send a key or a value.
    values = st.binary(max_size=2048)
    new_value = draw(values if new_key is None else st.none() | values)
    names = st.tuples(st.text(max_size=24), st.binary(max_size=64))
    return new_key, new_value, draw(st.lists(names, max_size=6))


def _broken_json(draw: st.DrawFn, key: bytes, value: bytes, headers: Any, _: int) -> Record:
    cut = draw(st.integers(min_value=0, max_value=len(value) - 1))
    return key, value[:cut] + draw(st.binary(max_size=8)), headers


def _deep_nesting(draw: st.DrawFn, key: bytes, value: bytes, headers: Any, _: int) -> Record:
    depth = draw(st.integers(min_value=30, max_value=5000))
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    data = {**_data(), "order_tags": "@"}
    nested = (opening * depth + "1" + closing * depth).encode()
    return key, json.dumps(data).encode().replace(b'"@"', nested), headers


def _huge_string(
    draw: st.DrawFn, key: bytes, value: bytes, headers: list[tuple[str, bytes]], max_bytes: int
) -> Record:
    size = draw(st.integers(min_value=4096, max_value=max_bytes))
    huge = draw(st.characters(codec="utf-8", exclude_categories=["Cs"])) * size
    raw = huge.encode()[:max_bytes]
    where = draw(st.sampled_from(["sku", "ce_orderid", "ce_subject", "ce_source"]))
    if where == "sku":
        data = _data()
        data["items"][0]["sku"] = huge
        return key, json.dumps(data, ensure_ascii=False).encode()[:max_bytes], headers
    if where == "ce_subject":
        return key, value, [*headers, (where, raw)]
    return key, value, [(n, raw if n == where else v) for n, v in headers]


def _bad_utf8_key(draw: st.DrawFn, key: bytes, value: bytes, headers: Any, _: int) -> Record:
    at = draw(st.integers(min_value=0, max_value=len(key)))
    bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
    return key[:at] + bad + key[at:], value, headers


def _bad_utf8_header(
    draw: st.DrawFn, key: bytes, value: bytes, headers: list[tuple[str, bytes]], _: int
) -> Record:
    index = draw(st.integers(min_value=0, max_value=len(headers) - 1))
    bad = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xb2\x80", b"\x80"]))
    changed = [(n, v + bad if i == index else v) for i, (n, v) in enumerate(headers)]
    return key, value, changed


def _null_header(
    draw: st.DrawFn, key: bytes, value: bytes, headers: list[tuple[str, bytes]], _: int
) -> AnyRecord:
    """A CloudEvents attribute, the content type or a header of someone else's with a null
    value."""
    name = draw(st.sampled_from([n for n, _ in headers] + ["content-type", "traceparent"]))
    kept: list[tuple[str, bytes | None]] = [(n, v) for n, v in headers if n != name]
    at = draw(st.integers(min_value=0, max_value=len(kept)))
    return key, value, [*kept[:at], (name, None), *kept[at:]]


def _wrong_type_record(
    draw: st.DrawFn, key: bytes, value: bytes, headers: list[tuple[str, bytes]], _: int
) -> Record:
    new_value, new_headers = draw(_wrong_type(value, headers))
    return key, new_value, new_headers


def _attribute_missing(
    draw: st.DrawFn, key: bytes, value: bytes, headers: list[tuple[str, bytes]], _: int
) -> Record:
    dropped = draw(st.sampled_from(_REQUIRED))
    return key, value, [(n, v) for n, v in headers if n != f"ce_{dropped}"]


def _attribute_duplicated(
    draw: st.DrawFn, key: bytes, value: bytes, headers: list[tuple[str, bytes]], _: int
) -> Record:
    name = draw(st.sampled_from([*(f"ce_{a}" for a in _REQUIRED), "content-type"]))
    other = draw(st.sampled_from([dict(headers)[name], b"other"]))
    at = draw(st.integers(min_value=0, max_value=len(headers)))
    return key, value, [*headers[:at], (name, other), *headers[at:]]


def _extension_attribute(
    draw: st.DrawFn, key: bytes, value: bytes, headers: list[tuple[str, bytes]], _: int
) -> Record:
    names = st.sampled_from(["traceparent", "tracestate", "partitionkey", "x1"])
    name = draw(names | st.text(min_size=0, max_size=30))
    return key, value, [*headers, (f"ce_{name}", draw(st.binary(max_size=80)))]


_MUTATIONS: dict[str, Mutation] = {
    "random_bytes": _random_bytes,
    "broken_json": _broken_json,
    "deep_nesting": _deep_nesting,
    "huge_string": _huge_string,
    "bad_utf8_key": _bad_utf8_key,
    "bad_utf8_header": _bad_utf8_header,
    "null_header": _null_header,
    "wrong_type": _wrong_type_record,
    "attribute_missing": _attribute_missing,
    "attribute_duplicated": _attribute_duplicated,
    "extension_attribute": _extension_attribute,
}


@st.composite
def _wrong_type(
    draw: st.DrawFn, value: bytes, headers: list[tuple[str, bytes]]
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A data field or an attribute with a value of another JSON type."""
    data = json.loads(value)
    where = draw(st.sampled_from(["order_date", "items", "item", "quantity", "attribute"]))
    other = draw(_JSON)
    if where == "item":
        data["items"][0] = other
    elif where == "quantity":
        data["items"][0]["quantity"] = other
    elif where == "attribute":
        name = draw(st.sampled_from([f"ce_{a}" for a in _REQUIRED]))
        headers = [(n, json.dumps(other).encode() if n == name else v) for n, v in headers]
    else:
        data[where] = other
    return json.dumps(data).encode(), headers


@st.composite
def _structured(
    draw: st.DrawFn, shop: str, order: str, event_id: str
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The whole event as one JSON object, with an attribute dropped, retyped, doubled (two
    members with one name) or added."""
    event: dict[str, Any] = {**_attributes(shop, order, event_id), "data": _data()}
    change = draw(st.sampled_from(["none", "drop", "retype", "double", "extension", "data"]))
    name = draw(st.sampled_from(_REQUIRED))
    text: str
    if change == "drop":
        del event[name]
    elif change == "retype":
        event[name] = draw(_JSON)
    elif change == "extension":
        event[draw(st.text(max_size=24))] = draw(_JSON)
    elif change == "data":
        event["data"] = draw(_JSON)
    text = json.dumps(event)
    if change == "double":
        text = text[:-1] + f", {json.dumps(name)}: {json.dumps(draw(_JSON))}}}"
    return text.encode(), [("content-type", b"application/cloudevents+json")]
