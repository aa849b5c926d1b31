"""Field types that parse more than their pattern says."""

import pytest
from pydantic import TypeAdapter, ValidationError

from orderstate.events.fields import QueryTime, Timestamp, Url

_URL = TypeAdapter(Url)


@pytest.mark.parametrize(
    "url", ["https://shop.example.com/orders/1?x=1", "http://[::1]:8080/a", "http://localhost"]
)
def test_a_url_a_client_can_open_is_kept_as_given(url: str) -> None:
    assert _URL.validate_python(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[", "Invalid IPv6 URL"),
        ("https://shop.example.com:port/", "Port could not be cast"),
        ("http://:80/", "no host"),
        ("ftp://shop.example.com/", "pattern"),
    ],
)
def test_text_that_only_looks_like_a_url_is_refused(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        _URL.validate_python(url)


_TIMESTAMP = TypeAdapter(Timestamp)
_QUERY_TIME = TypeAdapter(QueryTime)


@pytest.mark.parametrize(
    ("adapter", "text"),
    [
        (_TIMESTAMP, "0001-01-01T00:00:00+01:00"),
        (_TIMESTAMP, "9999-12-31T23:30:00-01:00"),
        (_QUERY_TIME, "0001-01-01T00:00:00"),
    ],
)
def test_a_time_outside_the_calendar_in_utc_is_refused(
    adapter: TypeAdapter[object], text: str
) -> None:
    with pytest.raises(ValidationError, match="outside the years 1 to 9999 in UTC"):
        adapter.validate_python(text)


@pytest.mark.parametrize("text", ["0001-01-01T01:00:00+01:00", "9999-12-31T22:00:00-01:00"])
def test_a_time_at_the_edge_of_the_calendar_in_utc_is_kept(text: str) -> None:
    assert _TIMESTAMP.validate_python(text).isoformat() == text


@pytest.mark.parametrize("raw", ["1700000000", '"1700000000"', "1700000000.5", "true"])
def test_a_number_is_not_read_as_unix_time(raw: str) -> None:
    # pydantic would read these as 2023-11-14T22:13:20Z: a guess at the unit and the zone.
    with pytest.raises(ValidationError, match="must be an RFC 3339 date-time"):
        _TIMESTAMP.validate_json(raw)


@pytest.mark.parametrize("raw", ['"2026-03-02T09:30:00Z"', '"2026-03-02 09:30:00.5+01:00"'])
def test_rfc_3339_text_is_read(raw: str) -> None:
    assert _TIMESTAMP.validate_json(raw).year == 2026


@pytest.mark.parametrize("text", ["20261127", "1700000000000", "2026-11-27", "2026-W48-5"])
def test_a_query_time_that_is_a_number_or_a_date_alone_is_refused(text: str) -> None:
    # As query text pydantic read 20261127 as Unix time (1970-08-23) and a date as midnight,
    # which as an inclusive `_to` bound leaves out the very day it names.
    with pytest.raises(ValidationError, match="must be a date and time such as"):
        _QUERY_TIME.validate_python(text)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("2026-11-27T23:59:59", "2026-11-27T23:59:59"),
        ("2026-11-27 08:00:00+01:00", "2026-11-27T08:00:00+01:00"),
    ],
)
def test_a_query_time_with_or_without_an_offset_is_read(text: str, read: str) -> None:
    assert _QUERY_TIME.validate_python(text).isoformat() == read
