"""Kafka records to ``apply_batch`` inputs: decoded events, or malformed ones kept verbatim."""

import base64
from typing import Any

from orderstate.events.decode import DecodeLimits, decode_record
from orderstate.events.errors import DecodeError
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.projector.inputs import Incoming, Malformed, Position

__all__ = ["refused", "to_input"]

_MAX_KEPT_VALUE = 64 * 1024


def to_input(record: Any, role: TopicRole, limits: DecodeLimits) -> Incoming | Malformed:
    """``record`` is an aiokafka ConsumerRecord."""
    position = Position(record.topic, record.partition, record.offset)
    headers = list(record.headers or ())
    try:
        decoded = decode_record(
            key=record.key, value=record.value, headers=headers, topic_role=role, limits=limits
        )
    except DecodeError as error:
        return Malformed(error=error, original=_original(record, headers), position=position)
    return Incoming(decoded=decoded, topic_role=role, position=position)


def _text_or_base64(raw: bytes | None) -> tuple[str | None, str]:
    if raw is None:
        return None, "utf-8"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"
    # NUL is valid UTF-8 but PostgreSQL text cannot store it: keep such values as base64.
    if "\x00" in text:
        return base64.b64encode(raw).decode(), "base64"
    return text, "utf-8"


def _original(record: Any, headers: list[tuple[str, bytes]]) -> RejectedOriginal:
    value = record.value
    truncated = value is not None and len(value) > _MAX_KEPT_VALUE
    text, encoding = _text_or_base64(value[:_MAX_KEPT_VALUE] if truncated else value)
    key, _ = _text_or_base64(record.key)
    header_map = {
        name.replace("\x00", "\ufffd"): raw.decode("utf-8", "replace").replace("\x00", "\ufffd")[
            :1024
        ]
        for name, raw in headers[:50]
    }
    if truncated:
        header_map["x-orderstate-truncated"] = f"value cut to {_MAX_KEPT_VALUE} of {len(value)}"
    return RejectedOriginal(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        headers=header_map,
        value=text,
        value_encoding=encoding,
        event_id=header_map.get("ce_id"),
        event_type=header_map.get("ce_type"),
    )


def refused(item: Incoming | Malformed, error: Exception) -> Malformed:
    """An event PostgreSQL would not store, as a malformed rejection that can be stored."""
    if isinstance(item, Malformed):
        original = item.original.model_copy(
            update={
                "value": base64.b64encode((item.original.value or "").encode()).decode(),
                "value_encoding": "base64",
                "headers": {},
            }
        )
        position = item.position
    else:
        event = item.decoded.event
        raw = event.model_dump_json(exclude_none=True).encode()
        original = RejectedOriginal(
            topic=item.position.topic if item.position else None,
            partition=item.position.partition if item.position else None,
            offset=item.position.offset if item.position else None,
            key=event.key,
            value=base64.b64encode(raw).decode(),
            value_encoding="base64",
        )
        position = item.position
    message = f"the event could not be stored: {type(error).__name__}: {error}"
    return Malformed(error=DecodeError(message[:1000]), original=original, position=position)
