"""The pure order lifecycle: states, the policy table, and ``decide``.

Standard library and pydantic only: no clock, no id generation, no IO. An
import-linter contract in pyproject.toml keeps it that way.
"""

from orderstate.domain.changes import (
    AddItem,
    CancelShipment,
    Change,
    ChangeShipmentStatus,
    CreateOrder,
    DeleteOrder,
    ItemPatch,
    LinkShipment,
    OrderPatch,
    RemoveItem,
    RequestState,
    SetBoarding,
    SetTags,
    UpdateItem,
    UpdateOrder,
)
from orderstate.domain.decide import SHIPMENT_CHANGES, change_kind, decide, reject_expired_parked
from orderstate.domain.emitted import (
    BoardingCompleted,
    Emitted,
    LateEventRecorded,
    OrderDeleted,
    OrderUpdated,
    ShipmentLinked,
    StateChanged,
)
from orderstate.domain.model import (
    HistoryEntry,
    Item,
    ItemStatus,
    OrderFields,
    OrderView,
    ShipmentDirection,
    ShipmentLink,
    ShipmentStatus,
)
from orderstate.domain.outcomes import Accepted, Decision, Effect, Parked, Rejected
from orderstate.domain.policy import (
    DEFAULT_POLICY,
    Policy,
    PolicyBook,
    PolicyError,
    load_policy,
    load_policy_book,
)
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import (
    CLOSED_STATES,
    DERIVED_STATES,
    SETTABLE_STATES,
    TRACK,
    OrderState,
)

__all__ = [
    "CLOSED_STATES",
    "DEFAULT_POLICY",
    "DERIVED_STATES",
    "SETTABLE_STATES",
    "SHIPMENT_CHANGES",
    "TRACK",
    "Accepted",
    "AddItem",
    "BoardingCompleted",
    "CancelShipment",
    "Change",
    "ChangeShipmentStatus",
    "CreateOrder",
    "Decision",
    "DeleteOrder",
    "Effect",
    "Emitted",
    "HistoryEntry",
    "Item",
    "ItemPatch",
    "ItemStatus",
    "LateEventRecorded",
    "LinkShipment",
    "OrderDeleted",
    "OrderFields",
    "OrderPatch",
    "OrderState",
    "OrderUpdated",
    "OrderView",
    "Parked",
    "Policy",
    "PolicyBook",
    "PolicyError",
    "ReasonCode",
    "Rejected",
    "RemoveItem",
    "RequestState",
    "SetBoarding",
    "SetTags",
    "ShipmentDirection",
    "ShipmentLink",
    "ShipmentLinked",
    "ShipmentStatus",
    "StateChanged",
    "UpdateItem",
    "UpdateOrder",
    "change_kind",
    "decide",
    "load_policy",
    "load_policy_book",
    "reject_expired_parked",
]
