"""The current view of one order, as frozen values.

``decide`` never mutates a view; it returns a new one. Collections are tuples
and tags are ``Tags`` (a mapping that cannot change), so a view can be compared
and hashed by value.
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NoReturn, Self

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from orderstate.domain.states import OrderState

__all__ = [
    "MAX_ITEMS",
    "MAX_TAGS",
    "HistoryEntry",
    "Item",
    "ItemStatus",
    "OrderFields",
    "OrderView",
    "ShipmentDirection",
    "ShipmentLink",
    "ShipmentStatus",
    "Tags",
    "history_summary",
]

# The most items and tags an order holds (docs/events.md): a payload is refused past them, and
# so is a change that would take the order past them (an item added, tags merged).
MAX_ITEMS = 1_000
MAX_TAGS = 100

# A (state, occurred_at) pair of the history: a late state at a moment already recorded is a
# duplicate.
Moment = tuple[OrderState, datetime]


class Tags(dict[str, str]):
    """An order's key-value tags: a dict that refuses every change after it is built.

    Shops address tags by key, so they stay a mapping; a dict subclass so that they
    serialise as a JSON object wherever a dict does (pydantic, ``json.dumps``, the JSONB
    column) and compare equal to a dict with the same items. Hashed by its items, so a
    frozen model holding it is hashable. A change builds a new ``Tags``.
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("Tags cannot change; build a new Tags instead")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]  # dict declares itself unhashable
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[type["Tags"], tuple[dict[str, str]]]:
        # Copies and pickles rebuild it whole: item by item would call the refused methods.
        return (type(self), (dict(self),))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # Validated and serialised as dict[str, str], so the JSON form is a plain object.
        return core_schema.no_info_after_validator_function(cls, handler(dict[str, str]))


_setattr = object.__setattr__
# The field names of each model class, for evolve: pydantic's model_fields is a property that
# runs Python code on every access, and it cost a third of an evolve.
_FIELD_NAMES: dict[type, frozenset[str]] = {}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def evolve(self, **updates: Any) -> Self:
        """A copy with ``updates``, as ``model_copy(update=updates)`` makes it: the values are
        not validated again, and the fields they set count as set. Decide copies the view once
        or twice per event, and this costs about 60 % of model_copy, which copies each of the
        model's internal attributes through ``copy.copy``. Unlike model_copy it refuses a name
        that is not a field, which model_copy would store without a word. It relies on the
        models having no private attributes and no extra fields (tests/unit/domain/
        test_evolve.py holds every subclass to that)."""
        cls = type(self)
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = frozenset(cls.model_fields)
        if not names.issuperset(updates):
            unknown = updates.keys() - names
            raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
        new = cls.__new__(cls)
        values = self.__dict__.copy()
        values.update(updates)
        _setattr(new, "__dict__", values)
        _setattr(new, "__pydantic_fields_set__", self.__pydantic_fields_set__ | updates.keys())
        # extra="forbid" and no private attributes: pydantic keeps None in both.
        _setattr(new, "__pydantic_extra__", None)
        _setattr(new, "__pydantic_private__", None)
        return new


class ItemStatus(StrEnum):
    """Fulfilment status of one order item, set by the shop."""

    OPEN = "open"
    IN_PRODUCTION = "in_production"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class ShipmentDirection(StrEnum):
    OUTBOUND = "outbound"
    RETURN = "return"


class ShipmentStatus(StrEnum):
    """Coarse carrier status of a shipment (Seven Senders' statuses, normalised)."""

    NEW = "new"
    INFO_RECEIVED = "info_received"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    CANCELLED = "cancelled"


class Item(_Frozen):
    item_id: str
    sku: str
    name: str | None = None
    quantity: int
    unit_price: Decimal | None = None
    currency: str | None = None
    status: ItemStatus = ItemStatus.OPEN


class ShipmentLink(_Frozen):
    shipment_id: str
    direction: ShipmentDirection
    status: ShipmentStatus
    carrier: str | None = None
    tracking_code: str | None = None
    linked_at: datetime
    status_at: datetime


class HistoryEntry(_Frozen):
    """One state the order reached, or a state that arrived late and was only recorded."""

    state: OrderState
    occurred_at: datetime
    recorded_at: datetime
    cause_event_id: str
    late: bool = False
    location: str | None = None


class OrderFields(_Frozen):
    """The shop-owned descriptive fields of an order (Seven Senders names)."""

    order_url: str | None = None
    order_date: datetime
    language: str | None = None
    promised_delivery_date: datetime | None = None


class OrderView(_Frozen):
    shop_id: str
    order_id: str
    fields: OrderFields
    items: tuple[Item, ...] = ()
    tags: Tags = Tags()
    shipments: tuple[ShipmentLink, ...] = ()
    boarding_complete: bool = False
    state: OrderState = OrderState.NEW
    # A paid state was seen at some point, even if it arrived late (rule 2).
    payment_evidence: bool = False
    version: int
    # What the decisions need to know of the whole history, kept small so that the cost of an
    # event does not grow with the order's history (the entries live in their own table):
    # how many entries there are, the state and the event that created the current
    # incarnation, and whether the order was ever completed (not merely late).
    history_length: int = 0
    created_in: OrderState = OrderState.NEW
    created_by: str | None = None
    completed_once: bool = False
    # The entries recorded since this view was loaded, oldest first: all of them for a view
    # built in memory, the new ones for a view loaded from the database, which stores them.
    # Never part of the stored view.
    history: tuple[HistoryEntry, ...] = Field(default=(), exclude=True)
    # The (state, occurred_at) pairs recorded in the history that the decisions at hand may
    # ask about: all of them for a view built in memory; a loader adds those of the changes
    # it is about to decide (projector/stored_views.py). Never part of the stored view.
    moments: frozenset[Moment] = Field(default=frozenset(), exclude=True)
    created_at: datetime
    updated_at: datetime
    # A deleted order keeps its row so versions (and outbound sequences) never restart.
    deleted: bool = False

    @property
    def has_outbound_shipment(self) -> bool:
        return any(s.direction is ShipmentDirection.OUTBOUND for s in self.shipments)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.item_id == item_id), None)

    def shipment(self, shipment_id: str) -> ShipmentLink | None:
        return next((s for s in self.shipments if s.shipment_id == shipment_id), None)

    def recording(self, entries: Iterable[HistoryEntry]) -> dict[str, Any]:
        """The view updates that append ``entries`` to the history."""
        added = tuple(entries)
        return {
            "history": (*self.history, *added),
            "history_length": self.history_length + len(added),
            "moments": self.moments | {(e.state, e.occurred_at) for e in added},
            "completed_once": self.completed_once or completed_in(added),
        }


def history_summary(history: Iterable[HistoryEntry]) -> dict[str, Any]:
    """The view fields that stand for a whole history, computed from all of it: for views
    stored before the history left the view, and views rebuilt from a logged snapshot."""
    entries = tuple(history)
    created_in, created_by = OrderState.NEW, entries[0].cause_event_id if entries else None
    current = 0  # where the current incarnation's entries begin
    # Only a creation writes a ``new`` entry that is not late, and a created state other than
    # ``new`` follows it with the same cause; the last such entry is the current incarnation's.
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        if entry.state is OrderState.NEW and not entry.late:
            following = entries[index + 1 : index + 2]
            if following and following[0].cause_event_id == entry.cause_event_id:
                created_in = following[0].state
            created_by = entry.cause_event_id
            current = index
            break
    return {
        "history_length": len(entries),
        "created_in": created_in,
        "created_by": created_by,
        "completed_once": completed_in(entries[current:]),
        "moments": frozenset((e.state, e.occurred_at) for e in entries),
    }


def completed_in(entries: Iterable[HistoryEntry]) -> bool:
    """Whether these entries complete the order (a late ``completed`` does not, rule 2)."""
    return any(e.state is OrderState.COMPLETED and not e.late for e in entries)
