"""What the order monitor publishes on ``orderstate.order-alerts.v1``: ``alert.raised`` and
``alert.cleared``, CloudEvents keyed like the order they are about.

An alert is one deadline of one order under one rule. Its ``alert_id`` is derived from exactly
that (shop, order, rule, deadline), so the monitor raising it again after a restart, a
redelivery or a replay of the order events gives it the same id. The CloudEvent ids derive from
the alert id and the kind of event, so a re-sent ``alert.raised`` is a recognisable duplicate.
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orderstate.domain import OrderState
from orderstate.events.fields import OrderId

__all__ = [
    "ALERT_SOURCE",
    "RULE_PATTERN",
    "AlertClearedOut",
    "AlertRaisedOut",
    "ClearedBecause",
    "alert_event_data",
    "alert_id",
    "ms_to_time",
]

ALERT_SOURCE = "orderstate/monitor"
RULE_PATTERN = r"^(state_deadline\.[a-z_]+|order_delayed|boarding_open|parked_too_long)$"

# A namespace of our own: alert ids never collide with the outbound event ids.
_NAMESPACE = uuid.UUID("0b6f8d52-3c1e-5f7a-9d8e-6a1f2c3b4d5e")


class ClearedBecause(StrEnum):
    # The order left the watched condition: the next state, delivery, boarding completed.
    MOVED_ON = "moved_on"
    # Still watched under the same rule, with another deadline (a new promised date).
    DEADLINE_CHANGED = "deadline_changed"
    DELETED = "deleted"
    # The shop's alert rules no longer watch this (a changed policy file).
    RULE_REMOVED = "rule_removed"
    # The parked shipments are gone: their order arrived, or they expired as unknown_order.
    UNPARKED = "unparked"


class _Alert(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str = Field(
        description="Derived from shop, order, rule and deadline: the same alert always has "
        "the same id, also when raised again after a restart or a replay."
    )
    rule: str = Field(
        pattern=RULE_PATTERN,
        description="state_deadline.<state> (the order stayed too long in <state>), "
        "order_delayed (promised_delivery_date passed, not completed), boarding_open "
        "(boarding_complete still false after shipping), parked_too_long (a shipment waits "
        "for an order orderstate does not know).",
    )
    order_id: OrderId
    state: OrderState | None = Field(
        description="The order's state when the monitor decided; null for parked_too_long "
        "(the order does not exist yet)."
    )
    since: AwareDatetime = Field(
        description="When the watched condition began: the state was entered, the order "
        "shipped, the promised date, the first shipment parked."
    )
    deadline: AwareDatetime = Field(description="When the alert became due.")
    raised_at: AwareDatetime = Field(description="When the monitor raised it (monitor clock).")
    order_version: int | None = Field(
        description="The order version the monitor had seen; null for parked_too_long."
    )


class AlertRaisedOut(_Alert):
    pass


class AlertClearedOut(_Alert):
    cleared_at: AwareDatetime = Field(description="When the monitor cleared it.")
    cleared_because: ClearedBecause


def alert_id(shop_id: str, order_id: str, rule: str, deadline_ms: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{shop_id}\n{order_id}\n{rule}\n{deadline_ms}"))


def ms_to_time(ms: int) -> str:
    """Milliseconds since the epoch as the RFC 3339 text the contract uses."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def alert_event_data(
    kind: Literal["alert.raised", "alert.cleared"],
    *,
    shop_id: str,
    data: dict[str, Any],
    time_ms: int,
) -> dict[str, Any]:
    """The structured-mode CloudEvent of one alert event as JSON-ready data; ``data`` is an
    ``AlertRaisedOut`` or ``AlertClearedOut`` as JSON data (validated by the callers' tests,
    not per event: the monitor writes thousands per second)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid5(_NAMESPACE, f"{data['alert_id']}\n{kind}")),
        "source": ALERT_SOURCE,
        "type": kind,
        "time": ms_to_time(time_ms),
        "datacontenttype": "application/json",
        "subject": data["rule"],
        "shopid": shop_id,
        "orderid": data["order_id"],
        "data": data,
    }
