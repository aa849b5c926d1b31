"""CloudEvents 1.0 envelope and its Kafka codec (binary and structured content mode).

Binary mode puts attributes in ``ce_*`` headers and the data in the value;
structured mode puts the whole event as JSON in the value, with content type
``application/cloudevents+json``. orderstate writes binary mode and reads both
(CloudEvents Kafka protocol binding 1.0).
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pydantic_core
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from orderstate.events.errors import DecodeError
from orderstate.events.fields import EventId, OrderId, ShopId

__all__ = [
    "STRUCTURED_CONTENT_TYPE",
    "CloudEvent",
    "Headers",
    "binary_from_data",
    "decode_kafka",
    "describe_validation_error",
    "encode_binary",
    "encode_structured",
    "parse_json",
]

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
Headers = Sequence[tuple[str, bytes]]

_CE_PREFIX = "ce_"
_MAX_HEADER_BYTES = 4096


class CloudEvent(BaseModel):
    """Envelope attributes plus ``data`` (the JSON object the type's payload model validates)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"]
    id: EventId
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=128)
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str | None = Field(default=None, max_length=256)
    shopid: ShopId
    orderid: OrderId
    # Outbound only: the number of this event among its order's outbound events, from 1,
    # without gaps or repeats (the order's version is data.version).
    sequence: int | None = Field(default=None, ge=1)
    data: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.shopid}:{self.orderid}"


def parse_json(raw: bytes, *, max_bytes: int, max_depth: int, what: str) -> Any:
    """JSON text in UTF-8 (RFC 8259 8.1; a byte order mark is ignored), read as text:
    ``json.loads`` on bytes would also take UTF-16 or UTF-32, and UTF-8-encoded surrogates."""
    if len(raw) > max_bytes:
        raise DecodeError(f"{what} is {len(raw)} bytes; the limit is {max_bytes} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"{what} is not UTF-8: byte {exc.start} ({raw[exc.start : exc.start + 1]!r})"
        ) from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise DecodeError(f"{what} nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise DecodeError(f"{what} is not valid JSON: {exc}") from None
    if _depth_exceeds(value, max_depth):
        raise DecodeError(f"{what} nests deeper than {max_depth} levels")
    if ("\\ud" in text or "\\uD" in text) and not _is_text(value):
        raise DecodeError(
            f"{what} holds a lone surrogate (an escape \\ud800-\\udfff that is not half of a "
            "pair), which is not a character"
        )
    return value


def _is_text(value: Any) -> bool:
    """Every string (and key) in ``value`` is Unicode text that UTF-8 can carry."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the field path, e.g. ``data.items.3.quantity: ...``."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *error["loc"]))
        parts.append(f"{loc or '(root)'}: {error['msg']}")
    return "; ".join(parts)


def decode_kafka(
    headers: Headers, value: bytes | None, *, max_bytes: int, max_depth: int
) -> CloudEvent:
    """Read a CloudEvent from a Kafka record in either content mode."""
    if value is None:
        raise DecodeError("the record has no value (a tombstone is not an event)")
    header_map = _header_map(headers)
    content_type = header_map.get("content-type", "")
    if _CE_PREFIX + "specversion" in header_map and not content_type.startswith(
        STRUCTURED_CONTENT_TYPE
    ):
        attributes: dict[str, Any] = {
            name[len(_CE_PREFIX) :]: text
            for name, text in header_map.items()
            if name.startswith(_CE_PREFIX)
        }
        if content_type and not content_type.startswith("application/json"):
            raise DecodeError(f"content-type {content_type!r}: data must be application/json")
        attributes["data"] = parse_json(
            value, max_bytes=max_bytes, max_depth=max_depth, what="the record value"
        )
        if "sequence" in attributes:
            attributes["sequence"] = _int_attribute("sequence", attributes["sequence"])
    else:
        parsed = parse_json(
            value, max_bytes=max_bytes, max_depth=max_depth, what="the structured event"
        )
        if not isinstance(parsed, dict) or "specversion" not in parsed:
            raise DecodeError(
                "not a CloudEvent: no ce_specversion header (binary mode) and the value is not "
                "a JSON object with 'specversion' (structured mode)"
            )
        attributes = parsed
    return _validate(attributes)


def _header_map(headers: Headers) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, raw in headers:
        if len(raw) > _MAX_HEADER_BYTES:
            raise DecodeError(f"header {name!r} is over {_MAX_HEADER_BYTES} bytes")
        try:
            result[name.lower()] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"header {name!r} is not UTF-8") from None
    return result


def _int_attribute(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DecodeError(f"attribute {name!r} must be an integer, got {text!r}") from None


def _validate(attributes: Mapping[str, Any]) -> CloudEvent:
    data = attributes.get("data")
    if "data" in attributes and not isinstance(data, dict):
        raise DecodeError("data must be a JSON object")
    try:
        return CloudEvent.model_validate(attributes)
    except ValidationError as exc:
        raise DecodeError(describe_validation_error(exc)) from None


def encode_binary(event: CloudEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    return binary_from_data(event.model_dump(mode="json", exclude_none=True))


def binary_from_data(event: Mapping[str, Any]) -> tuple[list[tuple[str, bytes]], bytes]:
    """Binary content mode from a structured event that is already JSON data."""
    headers = [
        (_CE_PREFIX + name, str(value).encode())
        for name, value in event.items()
        if name not in ("data", "datacontenttype") and value is not None
    ]
    headers.append(("content-type", event.get("datacontenttype", "application/json").encode()))
    return headers, _dumps(event["data"])


def encode_structured(event: CloudEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    body = event.model_dump(mode="json", exclude_none=True)
    return [("content-type", STRUCTURED_CONTENT_TYPE.encode())], _dumps(body)


def _dumps(value: Any) -> bytes:
    # Compact UTF-8 JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it
    # for our data (no floats in the contract), in a quarter of the time.
    return pydantic_core.to_json(value)
