"""The one pass over a backfill file: every line read, checked and decided; nothing published.

Each line goes through what the worker will do with it: the decoder, then ``decide`` for an
order the shop does not have (as the first change of a new order it must be accepted), and
the size of the order event it would publish with ``--emit`` (an order too large to publish
could never change again). Memory keeps one small entry per order; the records themselves
go to a spool file, ready to send, so a file of any length fits and the publishing
transaction only sends (``publish``): it stays open for as short a time as it can.
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from orderstate.api.compat.reading import Reading
from orderstate.backfill.lines import ImportLine, LineError, read_line
from orderstate.domain import Accepted, PolicyBook, Rejected, decide
from orderstate.events.envelope import encode_binary
from orderstate.projector.outbox_rows import fact_rows

__all__ = ["Limits", "Planned", "Scan", "file_lines", "scan", "spooled"]


@dataclass(frozen=True, slots=True)
class Limits:
    # The worker's limits (ORDERSTATE_MAX_PAYLOAD_BYTES, ORDERSTATE_MAX_EVENT_BYTES).
    max_payload_bytes: int
    max_event_bytes: int


@dataclass(frozen=True, slots=True)
class Planned:
    line_no: int
    order_id: str
    event_id: str


@dataclass
class Scan:
    planned: list[Planned] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    # Fields the file carried that are not imported, by path ("shipments[].recipient_email").
    ignored: Counter[str] = field(default_factory=Counter)
    orders: int = 0


def file_lines(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """(line number from 1, the line without its end, bytes it took in the file)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw.rstrip(b"\r\n"), len(raw)


def scan(
    path: Path,
    *,
    shop_id: str,
    reading: Reading,
    emit: bool,
    limits: Limits,
    policies: PolicyBook,
    now: datetime,
    spool: IO[bytes],
    advance: Callable[[int], None],
) -> Scan:
    """``spool`` receives the record of every valid line (``spooled`` reads them back)."""
    result = Scan()
    first_line: dict[str, int] = {}
    for number, line, size in file_lines(path):
        advance(size)
        if not line.strip():
            continue
        result.orders += 1
        read = read_line(
            line,
            number,
            shop_id=shop_id,
            reading=reading,
            emit=emit,
            max_bytes=limits.max_payload_bytes,
        )
        if isinstance(read, LineError):
            result.errors.append(read)
            continue
        result.ignored.update(re.sub(r"\.\d+(?=\.|$)", "[]", name) for name in read.ignored)
        if read.order_id in first_line:
            result.errors.append(
                LineError(
                    number,
                    f"order {read.order_id} is also on line {first_line[read.order_id]}: "
                    "one line per order",
                    read.order_id,
                )
            )
            continue
        first_line[read.order_id] = number
        headers, value = encode_binary(read.event)
        problem = _refusal(read, value, policies, now, limits)
        if problem is not None:
            result.errors.append(LineError(number, problem, read.order_id))
            continue
        result.planned.append(Planned(number, read.order_id, read.event.id))
        record = {
            "id": read.event.id,
            "key": read.event.key,
            "headers": [[name, raw.decode()] for name, raw in headers],
            "value": value.decode(),
        }
        spool.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
    return result


def spooled(spool: IO[bytes]) -> Iterator[tuple[str, bytes, list[tuple[str, bytes]], bytes]]:
    """The spooled records from the start: (event id, key, headers, value), as Kafka takes
    them."""
    spool.seek(0)
    for line in spool:
        record = json.loads(line)
        headers = [(name, text.encode()) for name, text in record["headers"]]
        yield record["id"], record["key"].encode(), headers, record["value"].encode()


def _refusal(
    read: ImportLine, value: bytes, policies: PolicyBook, now: datetime, limits: Limits
) -> str | None:
    event = read.event
    if len(value) > limits.max_payload_bytes:
        return (
            f"too large: the record would be {len(value)} bytes, over the worker's limit of "
            f"{limits.max_payload_bytes} (ORDERSTATE_MAX_PAYLOAD_BYTES)"
        )
    # Decided as with --emit whatever the choice, so the size of the order's event is known:
    # without --emit nothing is published now, but every later change publishes the order.
    change = read.decoded.change.model_copy(update={"emit": True})
    decision = decide(None, change, policies.for_shop(event.shopid), now)
    if isinstance(decision, Rejected):
        return f"{decision.reason.value}: {decision.message}"
    if not isinstance(decision, Accepted):
        return decision.message
    rows = fact_rows(decision, cause=event, now=now, first_sequence=1)
    largest = max((len(r.event_json.encode()) for r in rows), default=0)
    if largest > limits.max_event_bytes:
        return (
            f"too large: the order's events would be {largest} bytes, over the limit of "
            f"{limits.max_event_bytes} (ORDERSTATE_MAX_EVENT_BYTES); split the order or "
            "leave out items or tags"
        )
    return None
