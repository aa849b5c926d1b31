"""Kafka records to ``apply_batch`` inputs: decoded events, or malformed ones kept verbatim."""

import base64
from typing import Any

from orderstate.events.decode import DecodeLimits, decode_record
from orderstate.events.errors import DecodeError
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.projector.inputs import Incoming, Malformed, Position

__all__ = ["to_input"]

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
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"


def _original(record: Any, headers: list[tuple[str, bytes]]) -> RejectedOriginal:
    value = record.value
    truncated = value is not None and len(value) > _MAX_KEPT_VALUE
    text, encoding = _text_or_base64(value[:_MAX_KEPT_VALUE] if truncated else value)
    key, _ = _text_or_base64(record.key)
    header_map = {name: raw.decode("utf-8", "replace")[:1024] for name, raw in headers[:50]}
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
