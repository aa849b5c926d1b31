"""Hostile Kafka records for the inbound topics, as hypothesis strategies.

Each record has a ``kind``: what an attacker or a broken producer did to it. The unit fuzzer
(tests/unit/events/test_decode_fuzz.py) feeds them to ``decode_record``; the pipeline fuzzer
(tests/integration/test_hostile_records.py) and bench/security.py produce them to a real
broker in front of a running worker.
"""

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "KINDS",
    "HostileRecord",
    "Record",
    "hostile_records",
    "valid_record",
]

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]

# What each kind does; every one must end as malformed or decided, never as a crash.
KINDS = (
    "valid",
    "random_bytes",
    "broken_json",
    "deep_nesting",
    "huge_string",
    "bad_utf8_key",
    "bad_utf8_header",
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
    headers: list[tuple[str, bytes]]

    @property
    def record(self) -> Record:
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
    assert value is not None and key is not None
    if kind == "random_bytes":
        key = draw(st.none() | st.binary(max_size=64))
        # A producer must send a key or a value.
        value = draw(
            st.binary(max_size=2048) if key is None else st.none() | st.binary(max_size=2048)
        )
        headers = draw(
            st.lists(st.tuples(st.text(max_size=24), st.binary(max_size=64)), max_size=6)
        )
    elif kind == "broken_json":
        cut = draw(st.integers(min_value=0, max_value=len(value) - 1))
        junk = draw(st.binary(max_size=8))
        value = value[:cut] + junk
    elif kind == "deep_nesting":
        depth = draw(st.integers(min_value=30, max_value=5000))
        inner = draw(st.sampled_from(["[", '{"a":']))
        closing = "]" if inner == "[" else "}"
        nested = inner * depth + "1" + closing * depth
        data = _data()
        data["order_tags"] = "@"
        value = json.dumps(data).encode().replace(b'"@"', nested.encode())
    elif kind == "huge_string":
        size = draw(st.integers(min_value=4096, max_value=max_bytes))
        where = draw(st.sampled_from(["sku", "order_id", "header", "source"]))
        huge = draw(st.characters(codec="utf-8", exclude_categories=["Cs"])) * size
        if where == "sku":
            data = _data()
            data["items"][0]["sku"] = huge
            value = json.dumps(data, ensure_ascii=False).encode()[:max_bytes]
        elif where == "header":
            headers.append(("ce_subject", huge.encode()[:max_bytes]))
        else:
            name = "ce_orderid" if where == "order_id" else "ce_source"
            headers = [(n, huge.encode()[:max_bytes] if n == name else v) for n, v in headers]
    elif kind == "bad_utf8_key":
        at = draw(st.integers(min_value=0, max_value=len(key)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        key = key[:at] + bad + key[at:]
    elif kind == "bad_utf8_header":
        index = draw(st.integers(min_value=0, max_value=len(headers) - 1))
        name, raw = headers[index]
        bad = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xb2\x80", b"\x80"]))
        headers[index] = (name, raw + bad)
    elif kind == "wrong_type":
        value, headers = draw(_wrong_type(value, headers))
    elif kind == "attribute_missing":
        dropped = draw(st.sampled_from(_REQUIRED))
        headers = [(n, v) for n, v in headers if n != f"ce_{dropped}"]
    elif kind == "attribute_duplicated":
        name = draw(st.sampled_from([*(f"ce_{a}" for a in _REQUIRED), "content-type"]))
        other = draw(st.sampled_from([dict(headers)[name], b"other"]))
        headers.insert(draw(st.integers(min_value=0, max_value=len(headers))), (name, other))
    elif kind == "extension_attribute":
        name = draw(
            st.sampled_from(["traceparent", "tracestate", "partitionkey", "x1"])
            | st.text(min_size=0, max_size=30)
        )
        headers.append((f"ce_{name}", draw(st.binary(max_size=80))))
    elif kind == "structured_mode":
        value, headers = draw(_structured(shop, order, event_id))
    return HostileRecord(kind, key, value, headers)


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
