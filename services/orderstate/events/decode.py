"""From a Kafka record (or a REST body wrapped as an event) to a domain change.

Every failure raises ``DecodeError`` (reason ``malformed``) with a message that
names the field and the rule; nothing here crashes on input.
"""

from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from orderstate.domain import Change
from orderstate.events.envelope import CloudEvent, Headers, decode_kafka, describe_validation_error
from orderstate.events.errors import DecodeError
from orderstate.events.registry import INBOUND_TYPES, to_change
from orderstate.events.topics import TOPICS, TopicRole

__all__ = ["DEFAULT_LIMITS", "DecodeLimits", "Decoded", "decode_event", "decode_record"]


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_payload_bytes: int = 1024 * 1024
    max_depth: int = 32


DEFAULT_LIMITS = DecodeLimits()


class Decoded(NamedTuple):
    event: CloudEvent
    payload: BaseModel
    change: Change


def decode_record(
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    topic_role: TopicRole,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> Decoded:
    event = decode_kafka(
        headers, value, max_bytes=limits.max_payload_bytes, max_depth=limits.max_depth
    )
    _check_key(key, event)
    # NUL can only arrive as a JSON escape in the value or as a byte in a header; a record
    # with neither needs no walk through every string (the walk showed in the profile).
    suspect = (value is not None and b"\\u0000" in value) or b"\x00" in b"".join(
        [v for _, v in headers if v is not None]
    )
    return decode_event(event, topic_role, check_nul=suspect)


def decode_event(event: CloudEvent, topic_role: TopicRole, *, check_nul: bool = True) -> Decoded:
    where = _nul_in(event.model_dump(exclude_none=True)) if check_nul else None
    if where is not None:
        # PostgreSQL text cannot hold NUL; refusing it here keeps it out of every table.
        raise DecodeError(f"{where} contains a NUL character (\\u0000), which is not allowed")
    inbound = INBOUND_TYPES.get(event.type)
    if inbound is None:
        known = ", ".join(sorted(INBOUND_TYPES))
        raise DecodeError(f"unknown event type {event.type!r}; known types: {known}")
    if event.type not in TOPICS[topic_role].types:
        expected = TOPICS[inbound.topic].default_name
        raise DecodeError(
            f"event type {event.type!r} does not belong on this topic; publish it to {expected}"
        )
    try:
        payload = inbound.model.model_validate(event.data)
    except ValidationError as exc:
        raise DecodeError(describe_validation_error(exc, prefix="data")) from None
    return Decoded(event=event, payload=payload, change=to_change(event, payload))


def _check_key(key: bytes | None, event: CloudEvent) -> None:
    if key is None:
        raise DecodeError(f"the record has no key; it must be {event.key!r} (shopid:orderid)")
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("the record key is not UTF-8") from None
    if text != event.key:
        raise DecodeError(
            f"the record key {text[:300]!r} does not match shopid:orderid {event.key!r}"
        )


def _nul_in(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) that holds a NUL character, if any."""
    if isinstance(value, str):
        return (path or "(value)") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            # The path is part of a message that is stored as text: it cannot hold the NUL.
            shown = str(key).replace("\x00", "\\u0000")[:64]
            here = f"{path}.{shown}" if path else shown
            if "\x00" in str(key):
                return here
            found = _nul_in(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, f"{path}.{index}")
            if found is not None:
                return found
    return None
