"""Kafka records to ``apply_batch`` inputs: decoded events, malformed ones kept verbatim, and
the records that change no order (merge markers, records forwarded to their partition)."""

import base64
from typing import Any, NamedTuple

from orderstate.events.decode import Decoded, DecodeLimits, decode_record
from orderstate.events.errors import DecodeError
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.projector.inputs import Incoming, Input, Malformed, Passed, Position
from orderstate.worker.undecodable import UNDECODABLE_MESSAGE, Undecodable

__all__ = [
    "FORWARDED_FROM_HEADER",
    "MARKER_HEADER",
    "TICK_HEADER",
    "Read",
    "read_record",
    "refused",
]

# A merge marker (worker/merge.py): no key, an empty value, this header with the time in ms.
MARKER_HEADER = "orderstate-merge-marker"
# A clock tick: like a marker, in an orders partition, written when a quiet pair has parked
# events due; merged like a record, and its Kafka timestamp moves the pair's log clock on.
TICK_HEADER = "orderstate-clock-tick"
# On a copy the worker made of a record that sat in a partition its key does not map to.
FORWARDED_FROM_HEADER = "orderstate-forwarded-from"

_MAX_KEPT_VALUE = 64 * 1024


class Read(NamedTuple):
    """One record, read: its merge key, and how to make its input once its time is known."""

    key_ms: int
    decoded: Decoded | None = None
    error: DecodeError | None = None
    marker: bool = False
    tick: bool = False

    def input(
        self, record: Any, role: TopicRole, position: Position, *, misplaced: bool = False
    ) -> Input:
        if self.marker:
            return Passed(position, "marker")
        if self.tick:
            return Passed(position, "tick")
        if self.decoded is not None:
            if misplaced:
                event = self.decoded.event
                return Passed(position, "forwarded", (event.shopid, event.orderid))
            return Incoming(decoded=self.decoded, topic_role=role, position=position)
        assert self.error is not None  # noqa: S101 -- a Read is a marker, decoded or an error
        headers = list(record.headers or ())
        return Malformed(error=self.error, original=_original(record, headers), position=position)


def read_record(record: Any, role: TopicRole, limits: DecodeLimits) -> Read:
    """``record`` is an aiokafka ConsumerRecord, or an ``Undecodable`` in a record's place."""
    if isinstance(record, Undecodable):
        return Read(key_ms=record.timestamp, error=DecodeError(UNDECODABLE_MESSAGE))
    headers = list(record.headers or ())
    if record.key is None and not record.value:
        for name, raw in headers:
            if name in (MARKER_HEADER, TICK_HEADER) and raw is not None and raw.isdigit():
                if name == MARKER_HEADER:
                    return Read(key_ms=int(raw), marker=True)
                return Read(key_ms=int(raw), tick=True)
    try:
        decoded = decode_record(
            key=record.key, value=record.value, headers=headers, topic_role=role, limits=limits
        )
    except DecodeError as error:
        # Keep the message only: the exception's traceback holds the frames of the fetch loop,
        # and through them the batches gathered then, which would stay in memory as long as
        # this record does (a leak of about 4 KB per record under a steady share of
        # malformed input).
        return Read(key_ms=record.timestamp, error=DecodeError(error.message))
    # Event time decides, but never later than the record's own timestamp, which the broker
    # keeps within log.message.timestamp.after.max.ms of its clock: one event stamped far in
    # the future must not hold its partition back for long.
    event_ms = int(decoded.event.time.timestamp() * 1000)
    return Read(key_ms=min(event_ms, record.timestamp), decoded=decoded)


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


def _original(record: Any, headers: list[tuple[str, bytes | None]]) -> RejectedOriginal:
    value = record.value
    truncated = value is not None and len(value) > _MAX_KEPT_VALUE
    text, encoding = _text_or_base64(value[:_MAX_KEPT_VALUE] if truncated else value)
    key, _ = _text_or_base64(record.key)
    header_map = {
        # A null value is kept as "": the rejection's message names the header.
        name.replace("\x00", "\ufffd"): (raw or b"")
        .decode("utf-8", "replace")
        .replace("\x00", "\ufffd")[:1024]
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
            value=base64.b64encode(raw[:_MAX_KEPT_VALUE]).decode(),
            value_encoding="base64",
        )
        position = item.position
    message = f"the event could not be stored: {type(error).__name__}: {error}"
    return Malformed(error=DecodeError(message[:1000]), original=original, position=position)
