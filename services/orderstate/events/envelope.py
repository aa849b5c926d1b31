"""CloudEvents 1.0 envelope and its Kafka codec (binary and structured content mode).

Binary mode puts attributes in ``ce_*`` headers and the data in the value;
structured mode puts the whole event as JSON in the value, with content type
``application/cloudevents+json``. orderstate writes binary mode and reads both
(CloudEvents Kafka protocol binding 1.0).
"""

import codecs
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orderstate.events.errors import DecodeError
from orderstate.events.fields import EventId, OrderId, ShopId, Timestamp

__all__ = [
    "API_SOURCE",
    "EXTENSION_NAME",
    "STRUCTURED_CONTENT_TYPE",
    "CloudEvent",
    "Headers",
    "binary_from_data",
    "binary_from_stored",
    "decode_kafka",
    "describe_validation_error",
    "encode_binary",
    "encode_structured",
    "parse_json",
]

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
# The CloudEvents source of every change made through the REST API: such an event is decided
# when the request is answered and appended to the inbound topic afterwards.
API_SOURCE = "orderstate/api"
# Kafka lets a header's value be null (aiokafka gives None).
Headers = Sequence[tuple[str, bytes | None]]

_CE_PREFIX = "ce_"
_MAX_HEADER_BYTES = 4096


class CloudEvent(BaseModel):
    """Envelope attributes plus ``data`` (the JSON object the type's payload model validates)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"]
    id: EventId
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=128)
    time: Timestamp
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str | None = Field(default=None, max_length=256)
    shopid: ShopId
    orderid: OrderId
    # Outbound only: the number of this event among its order's outbound events, from 1,
    # without gaps or repeats (the order's version is data.version).
    sequence: int | None = Field(default=None, ge=1)
    # Inbound only: on an event `orderstate redrive` appended again, the id of the rejected
    # event it re-applies (docs/redrive.md); everything else is the rejected event's.
    redriveof: EventId | None = Field(
        default=None,
        description="Set by `orderstate redrive`: the id of the rejected (or expired parked) "
        "event this one re-applies, with the same source, type, time and data.",
    )
    data: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.shopid}:{self.orderid}"


_ATTRIBUTES = frozenset(CloudEvent.model_fields)
# The header of each attribute as every producer we know writes it, lower case: one lookup
# instead of lower(), startswith() and a slice per header, about half of reading the headers.
# Other spellings (CE_ID, extensions) take the general way, to the same result.
_HEADER_ATTRIBUTES = {_CE_PREFIX + name: name for name in _ATTRIBUTES if name != "data"}
_BOM = codecs.BOM_UTF8
# A CloudEvents attribute name (CloudEvents 1.0, "Attribute Naming Convention").
EXTENSION_NAME = "[a-z0-9]{1,20}"
_EXTENSION_NAME = re.compile(EXTENSION_NAME)


def parse_json(
    raw: bytes, *, max_bytes: int, max_depth: int, what: str, unique_names: bool = False
) -> Any:
    """JSON text in UTF-8 (RFC 8259 8.1; a byte order mark is ignored), read as text:
    ``json.loads`` on bytes would also take UTF-16 or UTF-32, and UTF-8-encoded surrogates.
    ``unique_names`` refuses an object with a member name twice (RFC 8259 4 leaves its meaning
    open; JSON parsers mostly keep the last): for the envelope of a structured event and for
    REST bodies. Binary-mode data skips the check, which costs a third of the parse."""
    if len(raw) > max_bytes:
        raise DecodeError(f"{what} is {len(raw)} bytes; the limit is {max_bytes} bytes")
    # Not the utf-8-sig codec: it is a Python function around the C decoder (0.58 against
    # 0.19 µs for a 1.3 kB value), and its error positions leave out the mark.
    start = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        text = raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = start + exc.start
        raise DecodeError(f"{what} is not UTF-8: byte {at} ({raw[at : at + 1]!r})") from None
    try:
        value = json.loads(text, object_pairs_hook=_unique_members if unique_names else None)
    except _RepeatedName as exc:
        raise DecodeError(f"{what} names {exc.name[:64]!r} twice in one object") from None
    except RecursionError:
        raise DecodeError(f"{what} nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise DecodeError(f"{what} is not valid JSON: {exc}") from None
    # A container at depth d needs d opening brackets in the text (more, counting those in
    # strings): with no more brackets than the limit, the walk through every node is skipped.
    if text.count("{") + text.count("[") > max_depth and _depth_exceeds(value, max_depth):
        raise DecodeError(f"{what} nests deeper than {max_depth} levels")
    if ("\\ud" in text or "\\uD" in text) and not _is_text(value):
        raise DecodeError(
            f"{what} holds a lone surrogate (an escape \\ud800-\\udfff that is not half of a "
            "pair), which is not a character"
        )
    return value


class _RepeatedName(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _RepeatedName(name)
            seen.add(name)
    return members


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
    attributes, content_type = _read_headers(headers)
    # The media type without its parameters (charset=utf-8), compared whole and without
    # regard to case (RFC 9110 8.3.1): "application/jsonl" is not JSON, "Application/JSON" is.
    media = content_type.partition(";")[0].strip().lower()
    if "specversion" in attributes and media != STRUCTURED_CONTENT_TYPE:
        if media and media != "application/json":
            raise DecodeError(f"content-type {content_type!r}: data must be application/json")
        attributes["data"] = parse_json(
            value, max_bytes=max_bytes, max_depth=max_depth, what="the record value"
        )
        if "sequence" in attributes:
            attributes["sequence"] = _int_attribute("sequence", attributes["sequence"])
    else:
        parsed = parse_json(
            value,
            max_bytes=max_bytes,
            max_depth=max_depth,
            what="the structured event",
            unique_names=True,
        )
        if not isinstance(parsed, dict) or "specversion" not in parsed:
            raise DecodeError(
                "not a CloudEvent: no ce_specversion header (binary mode) and the value is not "
                "a JSON object with 'specversion' (structured mode)"
            )
        attributes = parsed
    return _validate(attributes)


def _read_headers(headers: Headers) -> tuple[dict[str, Any], str]:
    """The CloudEvents attributes of the ``ce_`` headers (binary content mode), and the
    content type ("" without one). Every header must be UTF-8 text of a bounded size."""
    attributes: dict[str, Any] = {}
    content_type: str | None = None
    for name, raw in headers:
        if raw is None:
            raise DecodeError(f"header {name[:64]!r} has a null value; send text or leave it out")
        if len(raw) > _MAX_HEADER_BYTES:
            raise DecodeError(f"header {name[:64]!r} is over {_MAX_HEADER_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"header {name[:64]!r} is not UTF-8") from None
        attribute = _HEADER_ATTRIBUTES.get(name)
        if attribute is None:
            key = name.lower()
            if not key.startswith(_CE_PREFIX):
                if key == "content-type":
                    if content_type is not None:
                        raise DecodeError(f"header {name[:64]!r} is given twice")
                    content_type = text
                continue
            attribute = key[len(_CE_PREFIX) :]
        # Which of two values counts would be the reader's choice: refused, not guessed.
        if attribute in attributes:
            raise DecodeError(f"header {name[:64]!r} is given twice")
        attributes[attribute] = text
    return attributes, content_type or ""


def _int_attribute(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DecodeError(f"attribute {name!r} must be an integer, got {text!r}") from None


def _validate(attributes: Mapping[str, Any]) -> CloudEvent:
    data = attributes.get("data")
    if "data" in attributes and not isinstance(data, dict):
        raise DecodeError("data must be a JSON object")
    if _ATTRIBUTES.issuperset(attributes):  # no extensions, as in almost every event
        known = attributes
    else:
        known = {name: value for name, value in attributes.items() if name in _ATTRIBUTES}
        for name, value in attributes.items():
            if name not in _ATTRIBUTES:
                _check_extension(name, value)
    try:
        return CloudEvent.model_validate(known)
    except ValidationError as exc:
        raise DecodeError(describe_validation_error(exc)) from None


def _check_extension(name: str, value: Any) -> None:
    """Extension attributes orderstate does not use (a tracing ``traceparent``, a producer's
    own) are accepted and ignored, as CloudEvents 1.0 asks of a consumer; a name CloudEvents
    does not allow, or a value that is no CloudEvents type, is malformed."""
    if not _EXTENSION_NAME.fullmatch(name):
        shown = name[:64]
        raise DecodeError(
            f"attribute {shown!r}: CloudEvents attribute names are 1-20 lower-case letters "
            "a-z or digits 0-9"
        )
    # JSON format of CloudEvents: string, integer or boolean (and null for "absent").
    if value is not None and not isinstance(value, str | int | bool):
        raise DecodeError(f"extension attribute {name!r} must be a string, an integer or a boolean")


def encode_binary(event: CloudEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    return binary_from_data(event.model_dump(mode="json", exclude_none=True))


def binary_from_data(event: Mapping[str, Any]) -> tuple[list[tuple[str, bytes]], bytes]:
    """Binary content mode from a structured event that is already JSON data."""
    return _binary_headers(event), _dumps(event["data"])


# How the data member of a stored event begins: orderstate writes every event compactly, with
# data as its last member (CloudEvent declares it last; outbound_event_data puts it last).
_DATA_MEMBER = ',"data":'
_SCALARS = frozenset({str, int, bool, type(None)})


def binary_from_stored(text: str) -> tuple[list[tuple[str, bytes]], bytes]:
    """Binary content mode from a structured event as orderstate stores it (the outbox's
    text): the same headers and value as ``binary_from_data`` of the parsed event, but the
    value is the stored text of ``data``, not parsed and written again. For an order event of
    1.5 kB that is about 5 µs instead of 11, and the relay's CPU per row fell by a sixth
    (bench/relay-drain-results.md).

    Outside strings, ``,"data":`` can only open a member named data (a quote inside a JSON
    string is escaped). When the text before it, closed, is an object of scalars, that member
    is the event's own; data, an object, is the last member, so the text after it less the
    closing brace is its value. Any other text is parsed whole."""
    at = text.find(_DATA_MEMBER)
    if at > 0 and text.endswith("}}"):
        try:
            attributes = pydantic_core.from_json(text[:at] + "}")
        except ValueError:
            attributes = None
        if isinstance(attributes, dict) and all(
            type(value) in _SCALARS for value in attributes.values()
        ):
            return _binary_headers(attributes), text[at + len(_DATA_MEMBER) : -1].encode()
    return binary_from_data(pydantic_core.from_json(text))


def _binary_headers(event: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    headers = [
        (_CE_PREFIX + name, str(value).encode())
        for name, value in event.items()
        if name not in ("data", "datacontenttype") and value is not None
    ]
    headers.append(("content-type", event.get("datacontenttype", "application/json").encode()))
    return headers


def encode_structured(event: CloudEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    body = event.model_dump(mode="json", exclude_none=True)
    return [("content-type", STRUCTURED_CONTENT_TYPE.encode())], _dumps(body)


def _dumps(value: Any) -> bytes:
    # Compact UTF-8 JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it
    # for our data (no floats in the contract), in a quarter of the time.
    return pydantic_core.to_json(value)
