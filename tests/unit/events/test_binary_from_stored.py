"""The relay's binary form of a stored event: the stored text of data, sent as it is, must be
what parsing the event and writing its data again would send, for whatever text the data and
the attributes hold."""

from datetime import UTC, datetime
from typing import Any

import pydantic_core
from hypothesis import given
from hypothesis import strategies as st

from orderstate.events.envelope import CloudEvent, binary_from_data, binary_from_stored

# Strings that look like the member the split looks for, quotes, escapes and non-ASCII text.
_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['","data":', ',"data":{"a":1}}', '\\"data\\":', "}}", "\\", '"', "ü€𝄞"]),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["data", "a", "order", ""]) | _TEXT, inner, max_size=4)
    ),
    max_leaves=20,
)
_DATA = st.dictionaries(st.sampled_from(["data", "order", "original"]) | _TEXT, _JSON, max_size=5)


def _expected(text: str) -> tuple[list[tuple[str, bytes]], bytes]:
    return binary_from_data(pydantic_core.from_json(text))


@given(data=_DATA, source=_TEXT.filter(bool), event_id=_TEXT.filter(bool))
def test_an_outbound_event_as_the_worker_writes_it(
    data: dict[str, Any], source: str, event_id: str
) -> None:
    # The form of outbound_event_data, serialised as fact_rows does.
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": "order.state_changed",
        "time": "2026-12-03T10:00:00.123456Z",
        "datacontenttype": "application/json",
        "shopid": "shop-1",
        "orderid": "SO-1",
        "sequence": 3,
        "data": data,
    }
    text = pydantic_core.to_json(event).decode()
    assert binary_from_stored(text) == _expected(text)


@given(data=_DATA, subject=st.none() | _TEXT, redriveof=st.none() | st.just("evt-9"))
def test_a_cloud_event_as_the_model_writes_it(
    data: dict[str, Any], subject: str | None, redriveof: str | None
) -> None:
    # The form of rejection and REST log rows: CloudEvent.model_dump_json.
    event = CloudEvent(
        specversion="1.0",
        id="evt-1",
        source="orderstate/api",
        type="order.created",
        time=datetime(2026, 12, 3, 10, tzinfo=UTC),
        subject=subject,
        shopid="shop-1",
        orderid="SO-1",
        redriveof=redriveof,
        data=data,
    )
    text = event.model_dump_json(exclude_none=True)
    assert binary_from_stored(text) == _expected(text)


def test_text_of_another_form_is_read_whole() -> None:
    for text in (
        # data not last
        '{"specversion":"1.0","data":{"a":1},"id":"x","shopid":"s","orderid":"o"}',
        # an object before data that has a member named data
        '{"specversion":"1.0","x":{"y":1,"data":{"b":2}},"id":"x","data":{"a":1}}',
        # spaces after the separators
        '{"specversion": "1.0", "id": "x", "data": {"a": [1, 2]}}',
    ):
        assert binary_from_stored(text) == _expected(text)


def test_the_value_is_the_stored_text_of_data() -> None:
    text = '{"specversion":"1.0","id":"e,\\"data\\":1","data":{"k":"ü","data":{"n":1}}}'
    headers, value = binary_from_stored(text)
    assert value == '{"k":"ü","data":{"n":1}}'.encode()
    assert ("ce_id", b'e,"data":1') in headers
