"""What ``apply_batch`` takes: decoded events or malformed records, with where they came from."""

import re
from dataclasses import dataclass

from orderstate.events.decode import Decoded
from orderstate.events.errors import DecodeError
from orderstate.events.fields import ID_PATTERN, check_reference
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole

__all__ = ["Incoming", "Input", "Malformed", "Passed", "Position"]

_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record sits in the inbound log, and the time of its partition after it (the
    running maximum of merge keys, ms since the epoch; worker/merge.py). The time is the
    stream time of the partition pair at this record: parked events expire on it."""

    topic: str
    partition: int
    offset: int
    time_ms: int = 0


@dataclass(frozen=True, slots=True)
class Passed:
    """A record the merge consumed that changes no order: a merge marker, or a record in a
    partition its key does not map to, which the worker copied to the right one first."""

    position: Position
    what: str
    # For a forwarded record: the order key, for the logs.
    key: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A decoded event. REST writes set ``append_to_log`` so the change also reaches the
    inbound topic, already recorded as processed (docs/architecture.md, REST writes)."""

    decoded: Decoded
    topic_role: TopicRole
    position: Position | None = None
    append_to_log: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.decoded.event.shopid, self.decoded.event.orderid)

    @property
    def ident(self) -> tuple[str, str]:
        return (self.decoded.event.source, self.decoded.event.id)


@dataclass(frozen=True, slots=True)
class Malformed:
    """A record that could not be decoded; it becomes an ``event.rejected`` and nothing else."""

    error: DecodeError
    original: RejectedOriginal
    position: Position | None = None

    @property
    def key(self) -> tuple[str, str]:
        # The key names the order when it has the documented form; otherwise "unknown". It
        # splits at the first ':', which a shop id never holds; an order id may hold more.
        shop, _, order = (self.original.key or "").partition(":")
        if _ID.match(shop) and len(shop) <= 64 and 0 < len(order) <= 128:
            try:
                return (shop, check_reference(order))
            except ValueError:
                pass
        return ("unknown", "unknown")


Input = Incoming | Malformed | Passed
