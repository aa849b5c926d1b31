"""What ``apply_batch`` takes: decoded events or malformed records, with where they came from."""

import re
from dataclasses import dataclass
from typing import NamedTuple

from orderstate.events.decode import Decoded
from orderstate.events.errors import DecodeError
from orderstate.events.fields import ID_PATTERN, check_reference
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole

__all__ = ["Incoming", "Input", "Malformed", "Passed", "Position"]

_ID = re.compile(ID_PATTERN)


# Position and Incoming are NamedTuples, not frozen dataclasses: the worker builds one of each
# per record, and a NamedTuple is as immutable and builds in half the time (a frozen
# dataclass sets every field through object.__setattr__; bench/results-worker-cost.md). The
# other per-record values of the hot path (Read, Decoded, the rows to write, Outcome) too.
class Position(NamedTuple):
    """Where a record sits in the inbound log, with three clocks of the log, all in ms since
    the epoch and all functions of the log's content (docs/reliability.md):

    - ``time_ms``: the partition's merge time after this record (running maximum of merge
      keys; worker/merge.py orders the pair by it);
    - ``log_ms``: the running maximum of the partition's Kafka timestamps up to this record;
    - ``clock_ms``: the pair's log clock here, the running maximum of the Kafka timestamps of
      every record merged so far: parked events expire on it, as they would on the wall
      clock of a worker that read the records as they arrived.
    """

    topic: str
    partition: int
    offset: int
    time_ms: int = 0
    log_ms: int = 0
    clock_ms: int = 0


@dataclass(frozen=True, slots=True)
class Passed:
    """A record the merge consumed that changes no order: a merge marker, or a record in a
    partition its key does not map to, which the worker copied to the right one first."""

    position: Position
    what: str
    # For a forwarded record: the order key, for the logs.
    key: tuple[str, str] | None = None


class Incoming(NamedTuple):
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
