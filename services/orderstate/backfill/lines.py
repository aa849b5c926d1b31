"""One NDJSON line of a backfill file to the ``order.imported`` event it becomes.

A line is one order, as ``GET /v2/orders`` returns it or as Seven Senders exports it
(``shop_order_id``, ``shop_order_url``, ``shop_order_date``, shipments with ``return_parcel``
and a ``carrier`` object, ``states_history`` entries with ``datetime``). It is read through
the REST API's Seven Senders rules (``orderstate.api.compat``: legacy names, naive times in
the chosen zone, locales, tag lists, empty strings, personal data dropped) and validated by
the same payload model and decoder as the worker uses. Pure: no clock, no IO.

The event id is derived from the shop, the order id and the order's content (not its line
number, its spelling or the ``--emit`` choice): the same order imported again is the same
event, which the worker's dedupe and ``decide`` make a no-op.
"""

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from orderstate.api.compat.normalise import (
    ORDER_CREATE,
    ORDER_STATE,
    SHIPMENT_CREATE,
    BodyRules,
    CompatError,
    normalise,
)
from orderstate.api.compat.reading import Reading
from orderstate.domain import OrderState, ShipmentStatus
from orderstate.events.decode import Decoded, decode_event
from orderstate.events.envelope import CloudEvent, describe_validation_error, parse_json
from orderstate.events.errors import DecodeError
from orderstate.events.fields import OrderId
from orderstate.events.inbound import ItemData, OrderImportedData
from orderstate.events.topics import TopicRole

__all__ = ["BACKFILL_SOURCE", "IMPORTED_TYPE", "ImportLine", "LineError", "read_line"]

BACKFILL_SOURCE = "orderstate/backfill"
IMPORTED_TYPE = "order.imported"
_NAMESPACE = uuid.UUID("0b7e4c52-94f1-4d0e-8a3c-6d2f5e8b1a47")
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class ImportLine:
    line_no: int
    order_id: str
    decoded: Decoded
    # Field paths the line carried that orderstate does not keep (names only, never values).
    ignored: tuple[str, ...] = ()

    @property
    def event(self) -> CloudEvent:
        return self.decoded.event


@dataclass(frozen=True, slots=True)
class LineError:
    line_no: int
    message: str
    order_id: str | None = None


# --- what a line may hold, by name (values are validated by OrderImportedData) --------------


class _Line(BaseModel):
    order_id: Any = None
    order_url: Any = None
    order_date: Any = None
    language: Any = None
    promised_delivery_date: Any = None
    order_tags: Any = None
    boarding_complete: Any = None
    items: list[ItemData] | None = None
    state: Any = None
    states_history: Any = None
    shipments: Any = None


class _State(BaseModel):
    state: Any = None
    occurred_at: Any = None
    location: Any = None
    late: Any = None


class _Shipment(BaseModel):
    shipment_id: Any = None
    reference_number: Any = None
    tracking_code: Any = None
    carrier: Any = None
    direction: Any = None
    return_parcel: Any = None
    status: Any = None
    linked_at: Any = None
    status_at: Any = None


_AWARE = ORDER_CREATE.values["order_date"]
# What GET /v2/orders adds that an import does not take back: orderstate derives it again.
_REPRESENTATION = frozenset({"id", "iri", "version", "created_at", "updated_at", "alerts"})

_LINE_RULES = BodyRules(
    _Line,
    renames=ORDER_CREATE.renames,
    values=ORDER_CREATE.values,
    unused=ORDER_CREATE.unused | _REPRESENTATION,
    finish=ORDER_CREATE.finish,
)
_STATE_RULES = BodyRules(
    _State,
    renames={"datetime": "occurred_at"},
    values={
        "occurred_at": ORDER_STATE.values["datetime"],
        "location": ORDER_STATE.values["location"],
    },
    # recorded_at and cause_event_id are the exporting system's; the import records its own.
    unused=frozenset({"recorded_at", "cause_event_id"}),
)
_SHIPMENT_RULES = BodyRules(
    _Shipment,
    values={
        **SHIPMENT_CREATE.values,
        "linked_at": _AWARE,
        "status_at": _AWARE,
    },
    unused=SHIPMENT_CREATE.unused
    | frozenset({"id", "iri", "order_id", "shop_order_id", "order_iri", "order_state"}),
    # Personal data: the recipient's and sender's (GET responses say customer_*).
    unused_prefixes=(*SHIPMENT_CREATE.unused_prefixes, "customer_"),
    finish=SHIPMENT_CREATE.finish,
)

# Seven Senders' carrier statuses (its shipment events' documentation), in orderstate's terms.
_SEVEN_SENDERS_STATUSES = {
    "new": ShipmentStatus.NEW,
    "info": ShipmentStatus.INFO_RECEIVED,
    "pickup": ShipmentStatus.IN_TRANSIT,
    "hub scan at lmc": ShipmentStatus.IN_TRANSIT,
    "first scan at lmc": ShipmentStatus.IN_TRANSIT,
    "out for delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "delivered": ShipmentStatus.DELIVERED,
}
_ORDER_ID: TypeAdapter[str] = TypeAdapter(OrderId)
_WITHIN_LINE = re.compile(r": line 1 column (\d+) \(char \d+\)$")


class _LineProblem(ValueError):
    pass


def read_line(
    raw: bytes, line_no: int, *, shop_id: str, reading: Reading, emit: bool, max_bytes: int
) -> ImportLine | LineError:
    """The event for one line, or what is wrong with it (naming the field)."""
    order_id: str | None = None
    try:
        body = parse_json(
            raw, max_bytes=max_bytes, max_depth=_MAX_DEPTH, what="the line", unique_names=True
        )
        read = normalise(_object(body), _LINE_RULES, reading)
        order_id = _order_id(read.data.get("order_id"))
        ignored = list(read.ignored)
        data = _payload(read.data, reading, ignored)
        payload = OrderImportedData.model_validate({**data, "emit": emit})
        event = CloudEvent(
            specversion="1.0",
            id=_event_id(shop_id, order_id, payload),
            source=BACKFILL_SOURCE,
            type=IMPORTED_TYPE,
            time=_event_time(payload),
            shopid=shop_id,
            orderid=order_id,
            data=payload.model_dump(mode="json", exclude_none=True),
        )
        decoded = decode_event(event, TopicRole.ORDERS_IN)
    except (DecodeError, _LineProblem) as exc:
        # The JSON parser counts lines within the line: only the column says anything.
        message = _WITHIN_LINE.sub(r" at column \1", str(exc))
        return LineError(line_no, message, order_id)
    except CompatError as exc:
        return LineError(line_no, exc.message, order_id)
    except ValidationError as exc:
        return LineError(line_no, _describe(exc), order_id)
    return ImportLine(line_no, order_id, decoded, tuple(ignored))


def _describe(exc: ValidationError) -> str:
    """One part per problem, each naming the field path (``states_history.1.state: ...``);
    a rule about the whole order is its message alone."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _LineProblem("a line must be one JSON object: an order")
    return body


def _order_id(value: Any) -> str:
    if value is None:
        raise _LineProblem("order_id (or shop_order_id) is missing")
    try:
        return _ORDER_ID.validate_python(value)
    except ValidationError as exc:
        raise _LineProblem(describe_validation_error(exc, prefix="order_id")) from None


def _payload(line: dict[str, Any], reading: Reading, ignored: list[str]) -> dict[str, Any]:
    # A null is a field left out: the defaults of order.created apply (none, no tags, ...).
    data = {
        k: v
        for k, v in line.items()
        if v is not None and k not in ("order_id", "states_history", "shipments")
    }
    history = [
        _read_part(entry, _STATE_RULES, reading, ignored, f"states_history.{n}")
        for n, entry in enumerate(_list(line.get("states_history"), "states_history"))
    ]
    data["states_history"] = _history(history, data.get("state"), data.get("order_date"))
    if data.get("state") is None:
        current = [h.get("state") for h in history if not h.get("late")]
        data["state"] = current[-1] if current else OrderState.NEW.value
    shipped_at = next(
        (h.get("occurred_at") for h in history if h.get("state") == OrderState.SHIPPED.value),
        None,
    )
    data["shipments"] = [
        _shipment(_read_part(s, _SHIPMENT_RULES, reading, ignored, f"shipments.{n}"), n, shipped_at)
        for n, s in enumerate(_list(line.get("shipments"), "shipments"))
    ]
    return data


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _LineProblem(f"{name}: must be a list")
    return value


def _read_part(
    value: Any, rules: BodyRules, reading: Reading, ignored: list[str], where: str
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _LineProblem(f"{where}: must be an object")
    read = normalise(value, rules, reading)
    ignored.extend(f"{where}.{name}" for name in read.ignored)
    return read.data


def _history(history: list[dict[str, Any]], state: Any, order_date: Any) -> list[dict[str, Any]]:
    """Without a history, an order can only be imported as new, at its order date: any other
    state needs the time it was reached, which orderstate will not invent."""
    if history:
        return history
    if state not in (None, OrderState.NEW.value):
        raise _LineProblem(
            f"state {state!r} needs states_history: the states the order went through, each "
            "with its datetime"
        )
    return [{"state": OrderState.NEW.value, "occurred_at": order_date}]


def _shipment(data: dict[str, Any], index: int, shipped_at: Any) -> dict[str, Any]:
    where = f"shipments.{index}"
    shipment_id = (
        data.get("shipment_id") or data.get("reference_number") or data.get("tracking_code")
    )
    if shipment_id is None:
        raise _LineProblem(
            f"{where}: give shipment_id, reference_number or tracking_code: one names it"
        )
    direction = data.get("direction")
    return_parcel = data.get("return_parcel")
    if direction is None:
        direction = "return" if return_parcel is True else "outbound"
    elif return_parcel is not None and (direction == "return") != (return_parcel is True):
        raise _LineProblem(f"{where}: direction {direction!r} contradicts return_parcel")
    # Seven Senders moves an order to shipped when its first shipment is linked: without a
    # link time of its own, a shipment was linked when the order shipped.
    linked_at = data.get("linked_at") or shipped_at
    if linked_at is None:
        raise _LineProblem(
            f"{where}.linked_at is missing, and states_history has no 'shipped' entry to take "
            "it from"
        )
    shipment = {
        "shipment_id": shipment_id,
        "direction": direction,
        "carrier": data.get("carrier"),
        "tracking_code": data.get("tracking_code"),
        "linked_at": linked_at,
        # Spelt out, so that an order gives the same event (and id) in either shape.
        "status_at": data.get("status_at") or linked_at,
    }
    if data.get("status") is not None:
        shipment["status"] = _status(data["status"], where)
    return {k: v for k, v in shipment.items() if v is not None}


def _status(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _LineProblem(f"{where}.status: must be a string")
    text = value.strip().lower()
    if text in {s.value for s in ShipmentStatus}:
        return text
    if text in _SEVEN_SENDERS_STATUSES:
        return _SEVEN_SENDERS_STATUSES[text].value
    known = sorted({s.value for s in ShipmentStatus} | set(_SEVEN_SENDERS_STATUSES))
    raise _LineProblem(f"{where}.status: unknown shipment status {value!r}; one of {known}")


def _event_id(shop_id: str, order_id: str, payload: OrderImportedData) -> str:
    content = json.dumps(
        payload.model_dump(mode="json", exclude={"emit"}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return str(uuid.uuid5(_NAMESPACE, f"{shop_id}\n{order_id}\n{content}"))


def _event_time(payload: OrderImportedData) -> datetime:
    """The last moment the order's data knows of: a function of the line, so a re-run
    publishes the same event."""
    times = [payload.order_date, *(h.occurred_at for h in payload.states_history)]
    times += [s.status_at or s.linked_at for s in payload.shipments]
    return max(times)
