"""What ``orderstate redrive`` would append to the inbound topics, from the kept rejections.

Pure: rows of ``rejected_events`` in, for each one either a ``Redrive`` (the event to append
again) or an ``Excluded`` (why it cannot or will not be). docs/redrive.md has the design:

- Only a rejection that kept the whole event can be redriven: its ``original.value`` is the
  CloudEvent as decided. A malformed record never became an event (there is nothing to decide
  again: the producer must send it fixed); a value cut at 64 KiB is not the event any more.
- The redriven event is the rejected one with a new ``id`` and ``redriveof`` naming the
  rejected one: same source, type, time and data, so ``decide`` sees the same change with its
  original event time. The new id is derived (UUID 5 of source and rejected id), so running
  the same redrive twice appends the same event, which the worker's duplicate detection
  (processed_events, by source and id) then skips; and once it was decided, the command
  itself leaves the rejection alone. Rejected again, the redriven event is a rejection of its
  own, which a later redrive may take up (with an id derived from it in turn).
"""

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import ValidationError

from orderstate.domain import Change
from orderstate.events.decode import decode_event
from orderstate.events.envelope import API_SOURCE, CloudEvent
from orderstate.events.errors import DecodeError
from orderstate.events.registry import INBOUND_TYPES
from orderstate.events.topics import TopicRole

__all__ = ["Candidate", "Excluded", "Exclusion", "Redrive", "plan_redrives", "redrive_id"]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:orderstate:redrive")
_TRUNCATED = "x-orderstate-truncated"


def redrive_id(source: str, event_id: str) -> str:
    """The id of the redrive of the event (source, event_id): the same on every run."""
    return str(uuid.uuid5(_NAMESPACE, f"{source}\n{event_id}"))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A row of rejected_events the selection matched."""

    rejection_id: int
    shop_id: str
    order_id: str
    source: str | None
    event_id: str | None
    reason: str
    original_json: str
    rejected_at: datetime
    # A parked shipment event whose order did not arrive in time (processed outcome
    # parked_then_expired), rather than an event decide() rejected.
    expired: bool


class Exclusion(StrEnum):
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    UNDECODABLE = "undecodable"
    REST = "rest"
    REPEATED = "repeated"
    REDRIVEN = "redriven"


EXCLUSION_TEXT: dict[Exclusion, str] = {
    Exclusion.MALFORMED: "malformed records never decoded into an event, so there is nothing to "
    "decide again; the producer must publish them fixed",
    Exclusion.TRUNCATED: "the rejection kept only the first 64 KiB of the event",
    Exclusion.UNDECODABLE: "the kept event does not decode (any more)",
    Exclusion.REST: "REST requests answered 409 to their caller; pass --include-api to redrive "
    "them too",
    Exclusion.REPEATED: "the same event was rejected more than once; redriven once",
    Exclusion.REDRIVEN: "already redriven (the redriven event was decided)",
}


@dataclass(frozen=True, slots=True)
class Excluded:
    candidate: Candidate
    why: Exclusion
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Redrive:
    candidate: Candidate
    # The rejected event as it was decided, and the one to append.
    original: CloudEvent
    event: CloudEvent
    topic_role: TopicRole
    change: Change

    @property
    def key(self) -> tuple[str, str]:
        return (self.event.shopid, self.event.orderid)


def plan_redrives(
    candidates: Iterable[Candidate], *, include_api: bool
) -> tuple[list[Redrive], list[Excluded]]:
    """The events to append, in the order to append them (event time, then rejection), and
    the rows left out. ``Exclusion.REDRIVEN`` is the caller's to decide (it needs the
    database); this returns every candidate that could be redriven."""
    redrives: list[Redrive] = []
    excluded: list[Excluded] = []
    seen: set[tuple[str, str]] = set()
    for candidate in sorted(candidates, key=lambda c: c.rejection_id):
        outcome = _plan(candidate, include_api=include_api)
        if isinstance(outcome, Excluded):
            excluded.append(outcome)
            continue
        ident = (outcome.original.source, outcome.original.id)
        if ident in seen:
            excluded.append(Excluded(candidate, Exclusion.REPEATED))
            continue
        seen.add(ident)
        redrives.append(outcome)
    redrives.sort(key=lambda r: (r.event.time, r.candidate.rejection_id))
    return redrives, excluded


def _plan(candidate: Candidate, *, include_api: bool) -> Redrive | Excluded:
    if candidate.reason == "malformed" or candidate.source is None:
        return Excluded(candidate, Exclusion.MALFORMED)
    try:
        kept = json.loads(candidate.original_json)
    except ValueError:
        return Excluded(candidate, Exclusion.UNDECODABLE, "the kept original is not JSON")
    if not isinstance(kept, dict):
        return Excluded(candidate, Exclusion.UNDECODABLE, "the kept original is not an object")
    if _TRUNCATED in (kept.get("headers") or {}):
        return Excluded(candidate, Exclusion.TRUNCATED)
    value = kept.get("value")
    if kept.get("value_encoding", "utf-8") != "utf-8" or not isinstance(value, str):
        return Excluded(candidate, Exclusion.UNDECODABLE, "no event was kept")
    try:
        original = CloudEvent.model_validate_json(value)
    except ValidationError as exc:
        return Excluded(candidate, Exclusion.UNDECODABLE, str(exc.errors()[0]["msg"])[:200])
    inbound = INBOUND_TYPES.get(original.type)
    if inbound is None:
        return Excluded(candidate, Exclusion.UNDECODABLE, f"unknown type {original.type!r}")
    if original.source == API_SOURCE and not include_api:
        return Excluded(candidate, Exclusion.REST)
    event = original.model_copy(
        update={"id": redrive_id(original.source, original.id), "redriveof": original.id}
    )
    try:
        # The change names its event (history entries and order events cite their cause).
        change = decode_event(event, inbound.topic).change
    except DecodeError as exc:
        return Excluded(candidate, Exclusion.UNDECODABLE, exc.message[:200])
    return Redrive(candidate, original, event, inbound.topic, change)
