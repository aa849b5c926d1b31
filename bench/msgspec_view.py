"""The stored order view as msgspec Structs: the alternative bench/hotpaths.py times next to
pydantic's ``OrderView`` (load, dump and the copy-with-changes every decision makes).

Only the bench uses it. It mirrors the fields the ``orders.view`` JSON holds, and
``mirror_or_fail`` refuses to time it unless every view reads and writes back to exactly the
JSON pydantic writes, so the two arms do the same job.

``model_encoder`` is the half-way alternative: msgspec writing the pydantic models as they
are, each model handed over as a dict of its stored fields (``enc_hook``), without Structs.
``hooked_or_fail`` refuses to time it unless it writes the same bytes as pydantic.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import msgspec
from pydantic import BaseModel

from orderstate.domain.model import (
    ItemStatus,
    OrderView,
    ShipmentDirection,
    ShipmentStatus,
)
from orderstate.domain.states import OrderState
from orderstate.events.outbound import snapshot_members, snapshot_text

__all__ = [
    "ViewStruct",
    "decoder",
    "encoder",
    "hooked_or_fail",
    "hooked_snapshot",
    "mirror_or_fail",
    "model_encoder",
    "snapshots_or_fail",
    "struct_snapshot",
]


class ItemStruct(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    item_id: str
    sku: str
    quantity: int
    name: str | None = None
    unit_price: Decimal | None = None
    currency: str | None = None
    status: ItemStatus = ItemStatus.OPEN


class ShipmentStruct(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    shipment_id: str
    direction: ShipmentDirection
    status: ShipmentStatus
    linked_at: datetime
    status_at: datetime
    carrier: str | None = None
    tracking_code: str | None = None


class FieldsStruct(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    order_date: datetime
    order_url: str | None = None
    language: str | None = None
    promised_delivery_date: datetime | None = None


class ViewStruct(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    shop_id: str
    order_id: str
    fields: FieldsStruct
    version: int
    created_at: datetime
    updated_at: datetime
    items: tuple[ItemStruct, ...] = ()
    tags: dict[str, str] = {}
    shipments: tuple[ShipmentStruct, ...] = ()
    boarding_complete: bool = False
    state: OrderState = OrderState.NEW
    payment_evidence: bool = False
    history_length: int = 0
    created_in: OrderState = OrderState.NEW
    created_by: str | None = None
    completed_once: bool = False
    deleted: bool = False


decoder = msgspec.json.Decoder(ViewStruct)
# Decimals as strings, as pydantic writes them.
encoder = msgspec.json.Encoder(decimal_format="string")


def mirror_or_fail(texts: Sequence[str]) -> list[ViewStruct]:
    """The views of ``texts`` (pydantic's JSON) as Structs; raises if any of them does not
    come back as the same JSON value."""
    structs = [decoder.decode(text) for text in texts]
    for text, struct in zip(texts, structs, strict=True):
        if json.loads(encoder.encode(struct)) != json.loads(text):
            raise AssertionError(f"msgspec mirror differs from OrderView for {text[:200]}")
    return structs


# The stored fields of each model class, in pydantic's order (excluded fields left out).
_STORED: dict[type, tuple[str, ...]] = {}


def _as_dict(model: BaseModel) -> dict[str, Any]:
    cls = type(model)
    names = _STORED.get(cls)
    if names is None:
        names = _STORED[cls] = tuple(n for n, f in cls.model_fields.items() if not f.exclude)
    values = model.__dict__
    return {name: values[name] for name in names}


model_encoder = msgspec.json.Encoder(enc_hook=_as_dict, decimal_format="string")


def hooked_snapshot(view: OrderView) -> bytes:
    """``snapshot_text``'s JSON, its members written by ``model_encoder``."""
    return model_encoder.encode(snapshot_members(view))


def hooked_or_fail(views: Sequence[OrderView]) -> None:
    """Raises unless ``model_encoder`` writes exactly pydantic's bytes for every view and its
    snapshot."""
    for view in views:
        if model_encoder.encode(view).decode() != view.model_dump_json():
            raise AssertionError(f"model_encoder differs from pydantic for {view.order_id}")
        if hooked_snapshot(view).decode() != snapshot_text(view):
            raise AssertionError(f"hooked_snapshot differs from snapshot_text for {view.order_id}")


def struct_snapshot(view: ViewStruct) -> bytes:
    """``snapshot_text``'s JSON written from the Struct view. ``snapshot_members`` reads only
    attributes a ViewStruct has under the same names, so the member list stays orderstate's;
    the items and shipments stay Structs."""
    return encoder.encode(snapshot_members(cast(Any, view)))


def snapshots_or_fail(views: Sequence[OrderView]) -> list[ViewStruct]:
    """``views`` as Structs (``mirror_or_fail``); raises unless ``struct_snapshot`` of each
    is the same JSON value as its ``snapshot_text``."""
    structs = mirror_or_fail([v.model_dump_json() for v in views])
    for view, struct in zip(views, structs, strict=True):
        if json.loads(struct_snapshot(struct)) != json.loads(snapshot_text(view)):
            raise AssertionError(f"struct_snapshot differs from snapshot_text for {view.order_id}")
    return structs
