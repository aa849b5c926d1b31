"""Constrained field types shared by every payload, so a limit is written once.

Identifiers are restricted to URL-safe characters without ``:``, because the
Kafka key is ``<shop_id>:<order_id>`` and the REST API puts order ids in paths.
"""

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from orderstate.events.currencies import ISO_4217

__all__ = [
    "ID_PATTERN",
    "MAX_ITEMS",
    "MAX_TAGS",
    "Currency",
    "EventId",
    "ItemId",
    "Language",
    "Location",
    "Money",
    "OrderId",
    "Quantity",
    "ShipmentId",
    "ShopId",
    "ShortText",
    "TagMap",
    "Url",
    "money_to_decimal",
]

MAX_ITEMS = 1_000
MAX_TAGS = 100

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]*$"

ShopId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
OrderId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
ShipmentId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Location = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Url = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^\s]+$")]
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
