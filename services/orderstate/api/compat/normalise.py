"""Request bodies as Seven Senders clients send them, read into orderstate's request models.

Pure functions over parsed JSON: no HTTP, no database. Each body kind has ``BodyRules``:
legacy names, per-field readings (naive datetimes, locales, empty strings), the Seven Senders
fields orderstate accepts without using them, and what a profile fills in. What comes out is
validated by the same models as before, so every rule of orderstate still applies.

Every rule here is listed in the README's deviations table and in docs/sevensenders-compat.md.
"""

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from orderstate.api.compat.reading import Reading
from orderstate.api.requests import (
    EmbeddedOrder,
    OrderCreate,
    OrderStateCreate,
    ShipmentCreate,
    TagsBody,
    TokenRequest,
)
from orderstate.events.fields import is_date_time_text
from orderstate.events.inbound import ItemAddedData, ItemChanges, OrderUpdatedData

__all__ = [
    "ITEM_ADD",
    "ITEM_CHANGE",
    "ORDER_CREATE",
    "ORDER_STATE",
    "ORDER_UPDATE",
    "SHIPMENT_CREATE",
    "TAGS",
    "TOKEN",
    "BodyRules",
    "CompatError",
    "Normalised",
    "normalise",
]

Value = Callable[[Any, Reading], Any]


class CompatError(ValueError):
    """A body that no reading makes sense of, e.g. two names of one field with two values."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(message)
        self.field_path = field_path
        self.message = message


@dataclass(frozen=True)
class BodyRules:
    model: type[BaseModel]
    # Legacy name -> current name.
    renames: Mapping[str, str] = field(default_factory=dict)
    # Current name -> how its value is read.
    values: Mapping[str, Value] = field(default_factory=dict)
    # Seven Senders fields orderstate accepts and does not use: ignored in strict mode too.
    unused: frozenset[str] = frozenset()
    unused_prefixes: tuple[str, ...] = ()
    # Nested objects with rules of their own (an embedded order).
    nested: Mapping[str, "BodyRules"] = field(default_factory=dict)
    # What the caller's profile changes, after the fields above are read.
    finish: Callable[[dict[str, Any], Reading, "Normalised", str], None] | None = None


@dataclass
class Normalised:
    data: dict[str, Any] = field(default_factory=dict)
    # Paths of every field accepted and not used, in the order they came.
    ignored: list[str] = field(default_factory=list)
    # The ignored fields orderstate does not know at all (strict mode refuses these).
    unknown: list[str] = field(default_factory=list)
    # Ignored path -> the bounded name it is counted under in metrics.
    labels: dict[str, str] = field(default_factory=dict)

    def ignore(self, where: str, *, known: bool, label: str | None = None) -> None:
        self.ignored.append(where)
        if known:
            self.labels[where] = label or where
        else:
            self.unknown.append(where)
            self.labels[where] = "(unknown)"


def normalise(body: Mapping[str, Any], rules: BodyRules, reading: Reading) -> Normalised:
    out = Normalised()
    out.data = _read(body, rules, reading, out, "")
    return out


def _read(
    body: Mapping[str, Any], rules: BodyRules, reading: Reading, out: Normalised, path: str
) -> dict[str, Any]:
    data = _renamed(body, rules, reading, path)
    known = _field_names(rules.model)
    kept: dict[str, Any] = {}
    for name, value in data.items():
        where = path + name
        if name in rules.nested and isinstance(value, Mapping):
            kept[name] = _read(value, rules.nested[name], reading, out, where + ".")
        elif name in known:
            kept[name] = _strip(value, _nested_model(rules.model, name), out, where)
        elif name in rules.unused:
            out.ignore(where, known=True)
        elif name.startswith(rules.unused_prefixes):
            prefix = next(p for p in rules.unused_prefixes if name.startswith(p))
            out.ignore(where, known=True, label=f"{path}{prefix}*")
        else:
            out.ignore(where, known=False)
    if rules.finish is not None:
        rules.finish(kept, reading, out, path)
    return kept


def _renamed(
    body: Mapping[str, Any], rules: BodyRules, reading: Reading, path: str
) -> dict[str, Any]:
    data = dict(body)
    for legacy, current in rules.renames.items():
        if legacy not in data:
            continue
        value = data.pop(legacy)
        if current in data and data[current] != value:
            raise CompatError(
                path + legacy,
                f"{path}{legacy} is the legacy name of {path}{current}; both were given with "
                "different values",
            )
        data[current] = value
    for name, read in rules.values.items():
        if name in data:
            data[name] = read(data[name], reading)
    return data


def _strip(value: Any, model: type[BaseModel] | None, out: Normalised, where: str) -> Any:
    """Unknown fields of nested objects (an order's items) are ignored like top-level ones."""
    if model is None:
        return value
    if isinstance(value, list):
        return [_strip(v, model, out, f"{where}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, Mapping):
        return value
    known = _field_names(model)
    kept = {}
    for name, item in value.items():
        if name in known:
            kept[name] = _strip(item, _nested_model(model, name), out, f"{where}.{name}")
        else:
            out.ignore(f"{where}.{name}", known=False)
    return kept


def _field_names(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def _nested_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    info = model.model_fields.get(name)
    return None if info is None else _model_in(info.annotation)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


# --- how values are read -------------------------------------------------------------------


def _aware(value: Any, reading: Reading) -> Any:
    """A datetime without an offset is a time at the shop: read it in the caller's zone.

    Spryker sends its creation time as ``Y-m-d H:i:s.u`` without an offset. An aware value is
    passed on as it came; anything else that is not a date and a time (a date alone, ISO
    8601's week or basic forms, which ``fromisoformat`` would read) is left for the model to
    refuse, as the same value on Kafka is.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    if not is_date_time_text(text):
        return value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        return value
    return parsed.replace(tzinfo=reading.zone).isoformat()


_LOCALE = re.compile(r"^([A-Za-z]{2})(?:([_-])([A-Za-z]{2}))?(?:[.@].*)?$")


def _language(value: Any, _reading: Reading) -> Any:
    """``de_DE`` (a POSIX locale, as Spryker sends) becomes ``de``; ``de-DE`` stays a language
    tag; an empty string or list means no language; a list (legacy) gives its first entry."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    match = _LOCALE.match(text)
    if match is None:
        return value
    language, separator, region = match.groups()
    if separator == "-" and "." not in text and "@" not in text:
        return f"{language.lower()}-{region.upper()}"
    return language.lower()


def _none_if_empty(value: Any, _reading: Reading) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _tags(value: Any, _reading: Reading) -> Any:
    """Tags as a list of strings (the 2017 documentation) become tags without a value."""
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return dict.fromkeys(value, "")
    return value


def _reference(value: Any, reading: Reading) -> Any:
    """A number where a reference belongs (a sales-order id) is its decimal string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _none_if_empty(value, reading)


# --- what a profile changes -----------------------------------------------------------------


def _order_defaults(data: dict[str, Any], reading: Reading, out: Normalised, path: str) -> None:
    if data.get("boarding_complete") is None:
        data.pop("boarding_complete", None)
        if reading.profile.boarding_unset_means_complete:
            data["boarding_complete"] = True


def _shipment_defaults(data: dict[str, Any], reading: Reading, out: Normalised, path: str) -> None:
    carrier = data.get("carrier")
    if isinstance(carrier, Mapping):
        # Seven Senders' {name, country} (or {carrier_name, carrier_country}): orderstate keeps
        # the carrier's name.
        name_key = "name" if "name" in carrier else "carrier_name"
        for key in carrier:
            if key != name_key:
                known = key in ("country", "carrier_country")
                out.ignore(f"{path}carrier.{key}", known=known)
        carrier = carrier.get(name_key)
    data["carrier"] = _none_if_empty(carrier, reading)
    if "return_parcel" not in data:
        return
    if reading.profile.return_parcel_unreliable:
        del data["return_parcel"]
        out.ignore(path + "return_parcel", known=True)
    elif data["return_parcel"] is None:
        del data["return_parcel"]


# --- the rules per body ---------------------------------------------------------------------

_ORDER_VALUES: dict[str, Value] = {
    "order_id": _reference,
    "order_url": _none_if_empty,
    "order_date": _aware,
    "promised_delivery_date": _aware,
    "language": _language,
    "order_tags": _tags,
}
_ORDER_RENAMES = {
    "shop_order_id": "order_id",
    "shop_order_url": "order_url",
    "shop_order_date": "order_date",
}
# Sent by the Spryker module on every order; not in Seven Senders' documentation.
_ORDER_UNUSED = frozenset({"delivered_with_seven_senders"})

TOKEN = BodyRules(TokenRequest)
ORDER_CREATE = BodyRules(
    OrderCreate,
    renames=_ORDER_RENAMES,
    values=_ORDER_VALUES,
    unused=_ORDER_UNUSED,
    finish=_order_defaults,
)
ORDER_UPDATE = BodyRules(
    OrderUpdatedData,
    renames={k: v for k, v in _ORDER_RENAMES.items() if v != "order_id"},
    values=_ORDER_VALUES,
    # A full order sent to PUT /v2/orders/{id} repeats its id; the path names the order.
    unused=_ORDER_UNUSED | {"order_id", "shop_order_id"},
)
ORDER_STATE = BodyRules(
    OrderStateCreate,
    renames={"shop_order_id": "order_id"},
    values={"order_id": _reference, "datetime": _aware, "location": _none_if_empty},
)
SHIPMENT_CREATE = BodyRules(
    ShipmentCreate,
    renames={"shop_order_id": "order_id"},
    values={
        "order_id": _reference,
        "shipment_id": _reference,
        "reference_number": _reference,
        "tracking_code": _reference,
    },
    unused=frozenset(
        {
            # Documented Seven Senders shipment fields (support portal, "Create Shipment"),
            # and what the Spryker and WooCommerce plugins add.
            "reference_number_2",
            "carrier_service",
            "planned_pickup_datetime",
            "pickup_point_selected",
            "comment",
            "warehouse",
            "warehouse_address",
            "shipment_tag",
            "trackable",
            "local_delivery",
            "goods_value",
            "goods_value_currency",
            "cod",
            "cod_value",
            "cod_reference",
            "weight",
            "package_no",
            "delivered_with_seven_senders",
        }
    ),
    # The recipient's and sender's personal data: dropped here, before anything keeps it.
    unused_prefixes=("recipient_", "sender_"),
    nested={
        "order": BodyRules(
            EmbeddedOrder,
            renames=_ORDER_RENAMES,
            values=_ORDER_VALUES,
            unused=_ORDER_UNUSED,
            finish=_order_defaults,
        )
    },
    finish=_shipment_defaults,
)
ITEM_ADD = BodyRules(ItemAddedData)
ITEM_CHANGE = BodyRules(ItemChanges)
TAGS = BodyRules(TagsBody, values={"order_tags": _tags})
