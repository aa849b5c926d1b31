"""What the monitor reads off a record of orderstate's outbound topics, and nothing more.

Order events carry the whole order; the monitor needs a handful of its fields, so a record is
parsed once (``pydantic_core.from_json``, the fastest JSON reader at hand) and the fields are
picked, not validated into the full models: the relay published these events from validated
data, and the monitor reads thousands per second. A record that does not have the fields is
reported as ``None`` and counted, never fatal.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic_core

from orderstate.domain import OrderState

__all__ = ["OrderEvent", "Rejection", "order_event", "rejection", "to_ms"]


@dataclass(frozen=True, slots=True)
class OrderEvent:
    key: str
    shop_id: str
    order_id: str
    type: str
    event_id: str
    sequence: int
    version: int
    occurred_ms: int
    from_state: OrderState | None
    to_state: OrderState | None
    state: OrderState
    boarding_complete: bool
    promised_ms: int | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class Rejection:
    shop_id: str
    reason: str
    # The rejected event's own time when it had one, else when orderstate rejected it.
    time_ms: int


def to_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _headers(headers: Any) -> dict[str, bytes]:
    # faust hands headers over as a list of (name, value) pairs or as a mapping.
    pairs = headers.items() if hasattr(headers, "items") else headers or ()
    return {name: value for name, value in pairs}


def order_event(
    key: bytes | None, value: bytes | None, headers: Any, *, record_ms: int | None = None
) -> OrderEvent | None:
    """An ``orderstate.order-events.v1`` record, or None when it lacks what the monitor needs.

    Its time is the event's, but never later than ``record_ms``, the record's own timestamp
    (when the relay published it), as the worker caps event time at the inbound record's: a
    shop's typo in a year must not move the partition's clock, by which every order on it is
    judged, into the future."""
    if key is None or value is None:
        return None
    try:
        meta = _headers(headers)
        text = key.decode()
        shop_id, _, order_id = text.partition(":")
        data = pydantic_core.from_json(value)
        order = data["order"]
        promised = order.get("promised_delivery_date")
        to_state = data.get("to_state")
        return OrderEvent(
            key=text,
            shop_id=shop_id,
            order_id=order_id,
            type=meta["ce_type"].decode(),
            event_id=meta["ce_id"].decode(),
            sequence=int(meta["ce_sequence"]),
            version=int(data["version"]),
            occurred_ms=_not_after(to_ms(data["occurred_at"]), record_ms),
            from_state=OrderState(data["from_state"]) if data.get("from_state") else None,
            to_state=OrderState(to_state) if to_state else None,
            state=OrderState(order["state"]),
            boarding_complete=bool(order["boarding_complete"]),
            promised_ms=to_ms(promised) if promised else None,
            deleted=bool(order["deleted"]),
        )
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        return None


def _not_after(event_ms: int, record_ms: int | None) -> int:
    return event_ms if record_ms is None else min(event_ms, record_ms)


def rejection(key: bytes | None, value: bytes | None, headers: Any) -> Rejection | None:
    """An ``orderstate.rejected.v1`` record, or None."""
    if key is None or value is None:
        return None
    try:
        meta = _headers(headers)
        shop_id = key.decode().partition(":")[0]
        data = pydantic_core.from_json(value)
        return Rejection(
            shop_id=shop_id,
            reason=str(data["reason"]),
            time_ms=_original_time(data.get("original") or {}) or to_ms(meta["ce_time"].decode()),
        )
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        return None


def _original_time(original: dict[str, Any]) -> int | None:
    """The time of a rejected event that was decoded (its structured form is kept); a
    malformed one may have none."""
    value = original.get("value")
    if not value or original.get("value_encoding", "utf-8") != "utf-8":
        return None
    try:
        parsed = pydantic_core.from_json(value)
        return to_ms(parsed["time"]) if isinstance(parsed, dict) and "time" in parsed else None
    except (ValueError, TypeError):
        return None
