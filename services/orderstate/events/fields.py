"""Constrained field types shared by every payload, so a limit is written once.

Shop ids are restricted to URL-safe characters without ``:``. Order, item and
shipment ids are the shop's own references, and real shops use ``#``, ``/``,
spaces and non-ASCII letters in them, so they allow nearly everything
(``REFERENCE_RULE``). The Kafka key ``<shop_id>:<order_id>`` stays unambiguous
because it splits at the first ``:``, which a shop id never contains.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

from orderstate.domain.model import MAX_ITEMS, MAX_TAGS
from orderstate.events.currencies import ISO_4217

__all__ = [
    "ID_PATTERN",
    "MAX_ITEMS",
    "MAX_TAGS",
    "REFERENCE_PATTERN",
    "REFERENCE_RULE",
    "Currency",
    "EventId",
    "ItemId",
    "Language",
    "Location",
    "Money",
    "OrderId",
    "Quantity",
    "QueryTime",
    "ShipmentId",
    "ShopId",
    "ShortText",
    "TagMap",
    "Timestamp",
    "Url",
    "check_reference",
    "is_date_time_text",
    "money_to_decimal",
]


ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]*$"

# Refused anywhere in a reference: C0 and C1 control characters (they cannot travel in a Kafka
# header or a log line unescaped), the Unicode line and paragraph separators, and the bidi
# embedding, override and isolate controls (they make a reference display as another one).
_REFUSED = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# No leading or trailing white space either: "A-1 " and "A-1" would be two orders that no
# one can tell apart. The pattern is valid in Rust (pydantic), Python and ECMA-262 regexes.
REFERENCE_PATTERN = rf"^[^\s{_REFUSED}](?:[^{_REFUSED}]*[^\s{_REFUSED}])?$"
REFERENCE_RULE = (
    "1-128 characters; any character but control characters, U+2028/U+2029 and the bidi "
    "controls U+202A-U+202E/U+2066-U+2069; no white space at either end; not '.' or '..'"
)
_REFERENCE = re.compile(REFERENCE_PATTERN)
# Path segments every URL library resolves away: an order with such an id could never be read.
_DOT_SEGMENTS = frozenset({".", ".."})


def check_reference(value: str) -> str:
    """Checked here rather than by the schema pattern alone, so a refusal says the rule in
    words instead of quoting the regex."""
    if value in _DOT_SEGMENTS or not _REFERENCE.match(value):
        raise ValueError(f"{value!r} is not a valid reference: {REFERENCE_RULE}")
    return value


ShopId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
_Reference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(check_reference),
    Field(json_schema_extra={"pattern": REFERENCE_PATTERN}),
]
OrderId = _Reference
ItemId = _Reference
ShipmentId = _Reference
EventId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Location = Annotated[str, StringConstraints(min_length=1, max_length=512)]


def _parsable_url(url: str) -> str:
    # The pattern alone lets through text no client can open ("http://[", "http://:x"); a
    # consumer that follows the link would fail on it long after we accepted it.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise ValueError(f"not a URL: {error}") from None
    if not parts.hostname:
        raise ValueError("not a URL: no host")
    return url


Url = Annotated[
    str,
    StringConstraints(max_length=2048, pattern=r"^https?://[^\s]+$"),
    AfterValidator(_parsable_url),
]
# A naive time's bounds: naive on purpose, compared with naive values only.
_NAIVE_FIRST = datetime.min + timedelta(days=1)  # noqa: DTZ901
_NAIVE_LAST = datetime.max - timedelta(days=1)  # noqa: DTZ901


def _within_calendar(value: datetime) -> datetime:
    # Times are kept and compared in UTC. One whose UTC form leaves the years 1-9999 cannot be
    # represented by Python or sent to PostgreSQL (it was a 500); a naive one may still be
    # read in any zone, so it keeps a day from either end. A UTC offset is less than a day,
    # so the years 2-9998 pass either way, without a conversion (every time of every event
    # comes through here).
    if 1 < value.year < 9999:
        return value
    if value.tzinfo is None:
        if _NAIVE_FIRST <= value <= _NAIVE_LAST:
            return value
    else:
        try:
            value.astimezone(UTC)
        except OverflowError:
            pass
        else:
            return value
    raise ValueError("a time outside the years 1 to 9999 in UTC")


# The date part of an RFC 3339 date-time: what a time in a payload must start with.
_DATE_TIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def is_date_time_text(value: object) -> bool:
    """Whether ``value`` is text that starts as an RFC 3339 date-time does: a full date, then
    the time. Not a date alone, a number, or ISO 8601's week and basic forms."""
    return isinstance(value, str) and _DATE_TIME_TEXT.match(value) is not None


def _date_time_text(value: object) -> object:
    # pydantic reads a number, or a string of digits, as Unix time. The contract says RFC 3339
    # text, and a number says nothing of its zone or unit (seconds? milliseconds?): refuse it
    # rather than guess. A datetime our own code built passes as it is.
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_TIME_TEXT.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time such as 2026-03-02T09:30:00Z")


def _query_time_text(value: object) -> object:
    # As in a payload, but an offset may be left out (the route reads the time in the key's
    # zone). A date alone is refused too: as midnight it would leave out the very day a
    # `_to` filter names.
    if isinstance(value, datetime) or is_date_time_text(value):
        return value
    raise ValueError(
        "must be a date and time such as 2026-03-02T09:30:00Z, or without an offset "
        "2026-03-02T09:30:00 in the API key's time zone; a date alone or a number is not one"
    )


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_within_calendar)
]
"""A time with its UTC offset, as every payload's times are: RFC 3339 text."""
QueryTime = Annotated[datetime, BeforeValidator(_query_time_text), AfterValidator(_within_calendar)]
"""A time in a query; without an offset it is read in the shop's zone."""
# ISO 639-1 language, optionally with an ISO 3166 region: "de", "en-GB".
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]


def _known_currency(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError(f"unknown ISO 4217 currency code {code!r}")
    return code


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]

# Money is a decimal string ("19.99"): a JSON number would be read as a binary float.
Money = Annotated[
    str,
    Field(strict=True, examples=["19.99"]),
    StringConstraints(pattern=r"^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?$"),
]


def _tags_within_limits(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags, got {len(tags)}")
    return tags


TagKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TagValue = Annotated[str, StringConstraints(max_length=256)]
TagMap = Annotated[dict[TagKey, TagValue], AfterValidator(_tags_within_limits)]


def money_to_decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
