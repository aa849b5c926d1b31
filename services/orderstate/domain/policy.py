"""The transition policy as data.

A policy is a table: for each current state, the states a shop may request
next. The default table is rules 1 and 5-8 of docs/lifecycle.md. Those rules and the
ones that need more than a table (late arrivals, payment evidence, shipments,
boarding) live in ``decide`` and hold for every table: a table can forbid
more, never allow what the rules forbid, and a table edge that the rules would
never let through is refused when the table is loaded. A shop can be given its own table in
configuration, for example one that forbids skipping states; a table is
validated when it is loaded, so a broken one stops the service at start-up,
not at the first event.

Configuration shape (JSON or YAML, read by the caller)::

    {"default": {<table>},                      # optional, replaces the built-in default
     "shops": {"<shop_id>": {<table>}, ...},
     "alerts": {"default": {<rules>},           # optional: the monitor's deadlines
                "shops": {"<shop_id>": {<rules>}, ...}}}

    <table> = {"transitions": {"new": ["paid", "cancelled"], ...},
               "refund_requires_payment": true,   # optional, default true
               "park_ttl_seconds": 86400}         # optional, default one day

The alert rules (``alert_rules.py``) ride on the policy of each shop (``Policy.alerts``), so a
shop's deadlines are checked against the transitions the same shop is held to.
"""

from collections import deque
from collections.abc import Mapping
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from orderstate.domain.alert_rules import DEFAULT_ALERT_RULES, AlertRules, load_alert_rules
from orderstate.domain.states import (
    CLOSED_STATES,
    DERIVED_STATES,
    TRACK,
    OrderState,
    track_rank,
)

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_TRANSITIONS",
    "Policy",
    "PolicyBook",
    "PolicyError",
    "load_policy",
    "load_policy_book",
]

S = OrderState

DEFAULT_TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = {
    # Rule 1: any forward move on the track, skipping allowed; rule 5: cancel before shipment.
    S.NEW: frozenset(
        {S.PAID, S.IN_PRODUCTION, S.WAREHOUSE_HANDOVER, S.IN_PREPARATION, S.CANCELLED}
    ),
    S.PAID: frozenset({S.IN_PRODUCTION, S.WAREHOUSE_HANDOVER, S.IN_PREPARATION, S.CANCELLED}),
    S.IN_PRODUCTION: frozenset({S.WAREHOUSE_HANDOVER, S.IN_PREPARATION, S.CANCELLED}),
    S.WAREHOUSE_HANDOVER: frozenset({S.IN_PREPARATION, S.CANCELLED}),
    S.IN_PREPARATION: frozenset({S.CANCELLED}),
    # Rule 6: returned only once an outbound shipment exists, which is what shipped means.
    S.SHIPPED: frozenset({S.RETURNED}),
    S.COMPLETED: frozenset({S.RETURNED}),
    # Rules 7 and 8: cancelled and returned lead only to refunded, refunded leads nowhere.
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.RETURNED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}

# Moves the service makes itself: linking the first outbound shipment ships an order that is
# still on the track, and delivery of everything completes a shipped one.
_DERIVED_EDGES: Mapping[OrderState, frozenset[OrderState]] = {
    **{state: frozenset({S.SHIPPED}) for state in TRACK[: TRACK.index(S.SHIPPED)]},
    S.SHIPPED: frozenset({S.COMPLETED}),
}


class PolicyError(ValueError):
    """A policy table that cannot work; the message names the table and what is wrong."""


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "default"
    transitions: Mapping[OrderState, frozenset[OrderState]] = DEFAULT_TRANSITIONS
    refund_requires_payment: bool = True
    park_ttl: timedelta = timedelta(days=1)
    # What the order monitor watches for this shop; decide() never reads it.
    alerts: AlertRules = DEFAULT_ALERT_RULES

    def allowed_after(self, state: OrderState) -> frozenset[OrderState]:
        return self.transitions.get(state, frozenset())

    def can_follow(self, state: OrderState) -> bool:
        """Whether any state, requested or derived, may come after ``state``."""
        return bool(self.allowed_after(state) | _DERIVED_EDGES.get(state, frozenset()))


DEFAULT_POLICY = Policy()


class PolicyBook(BaseModel):
    """The default policy and the shops that have their own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Policy = DEFAULT_POLICY
    shops: Mapping[str, Policy] = {}

    def for_shop(self, shop_id: str) -> Policy:
        return self.shops.get(shop_id, self.default)


def load_policy_book(data: Mapping[str, object]) -> PolicyBook:
    unknown = set(data) - {"default", "shops", "alerts"}
    if unknown:
        raise PolicyError(
            f"policy configuration: unknown keys {sorted(unknown)}; "
            "expected 'default', 'shops' and/or 'alerts'"
        )
    default = DEFAULT_POLICY
    if "default" in data:
        default = load_policy(_mapping(data["default"], "default"), name="default")
    shops_data = _mapping(data.get("shops", {}), "shops")
    shops = {
        str(shop_id): load_policy(_mapping(table, f"shops.{shop_id}"), name=f"shop {shop_id}")
        for shop_id, table in shops_data.items()
    }
    # Also without an 'alerts' section: the default rules must suit every shop's table.
    return _with_alert_rules(_mapping(data.get("alerts", {}), "alerts"), default, shops)


def _with_alert_rules(
    data: Mapping[str, object], default: Policy, shops: dict[str, Policy]
) -> PolicyBook:
    unknown = set(data) - {"default", "shops"}
    if unknown:
        raise PolicyError(
            f"policy configuration: unknown keys {sorted(unknown)} in 'alerts'; "
            "expected 'default' and/or 'shops'"
        )
    rules = DEFAULT_ALERT_RULES
    if "default" in data:
        rules = _alert_rules(_mapping(data["default"], "alerts.default"), rules, default, "default")
    # Shops with a table of their own get the default rules too, checked against that table.
    shops = {
        shop_id: _with_rules(policy, _alert_rules({}, rules, policy, f"shop {shop_id}"))
        for shop_id, policy in shops.items()
    }
    for shop_id, overrides in _mapping(data.get("shops", {}), "alerts.shops").items():
        policy = shops.get(str(shop_id), default.model_copy(update={"name": f"shop {shop_id}"}))
        own = _alert_rules(
            _mapping(overrides, f"alerts.shops.{shop_id}"), rules, policy, f"shop {shop_id}"
        )
        shops[str(shop_id)] = _with_rules(policy, own)
    return PolicyBook(default=_with_rules(default, rules), shops=shops)


def _alert_rules(
    data: Mapping[str, object], base: AlertRules, policy: Policy, name: str
) -> AlertRules:
    return load_alert_rules(
        data, base=base, name=name, can_follow=policy.can_follow, error=PolicyError
    )


def _with_rules(policy: Policy, rules: AlertRules) -> Policy:
    return policy if policy.alerts == rules else policy.model_copy(update={"alerts": rules})


def load_policy(data: Mapping[str, object], *, name: str) -> Policy:
    unknown = set(data) - {"transitions", "refund_requires_payment", "park_ttl_seconds"}
    if unknown:
        raise PolicyError(f"policy {name!r}: unknown keys {sorted(unknown)}")
    if "transitions" not in data:
        raise PolicyError(f"policy {name!r}: 'transitions' is required")
    transitions = _parse_transitions(_mapping(data["transitions"], "transitions"), name)
    _check_no_dead_edges(transitions, name)
    # No terminal check is needed: refunded must be reachable and can have no edge (rule 7).
    _check_reachable(transitions, name)

    refund_requires_payment = data.get("refund_requires_payment", True)
    if not isinstance(refund_requires_payment, bool):
        raise PolicyError(f"policy {name!r}: 'refund_requires_payment' must be true or false")
    ttl = data.get("park_ttl_seconds", int(DEFAULT_POLICY.park_ttl.total_seconds()))
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        raise PolicyError(f"policy {name!r}: 'park_ttl_seconds' must be a positive integer")
    return Policy(
        name=name,
        transitions=transitions,
        refund_requires_payment=refund_requires_payment,
        park_ttl=timedelta(seconds=ttl),
    )


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"policy configuration: {where!r} must be a mapping")
    return value


def _state(name: object, policy: str) -> OrderState:
    try:
        return OrderState(str(name))
    except ValueError:
        valid = ", ".join(s.value for s in OrderState)
        raise PolicyError(
            f"policy {policy!r}: unknown state {name!r}; states are {valid}"
        ) from None


def _parse_transitions(
    raw: Mapping[str, object], policy: str
) -> dict[OrderState, frozenset[OrderState]]:
    table: dict[OrderState, frozenset[OrderState]] = {}
    for source, targets in raw.items():
        if not isinstance(targets, list | tuple):
            raise PolicyError(f"policy {policy!r}: targets of {source!r} must be a list")
        parsed = frozenset(_state(t, policy) for t in targets)
        derived = parsed & DERIVED_STATES
        if derived:
            raise PolicyError(
                f"policy {policy!r}: {sorted(s.value for s in derived)} after {source!r}: shipped "
                "and completed are derived by the service and cannot be requested"
            )
        table[_state(source, policy)] = parsed
    return table


_SHIPPED_RANK = TRACK.index(S.SHIPPED)


def _dead_edge_reason(source: OrderState, target: OrderState) -> str | None:
    """Why decide() could never take this edge, whatever the table says; None if it could."""
    target_rank, source_rank = track_rank(target), track_rank(source)
    if target_rank is not None and source in CLOSED_STATES:
        return "a track state after a closed state is recorded as late (rule 8)"
    if target_rank is not None and source_rank is not None and target_rank <= source_rank:
        return "it moves backward on the track, which is recorded as late (rule 2)"
    if source is S.REFUNDED:
        return "refunded is terminal (rule 7)"
    shipped = source is S.RETURNED or (source_rank is not None and source_rank >= _SHIPPED_RANK)
    if target is S.CANCELLED and shipped:
        return "an order with an outbound shipment cannot be cancelled (rule 5)"
    if target is S.RETURNED and not shipped:
        return "only a shipped order can be returned (rule 6)"
    if target is S.REFUNDED and source not in (S.RETURNED, S.CANCELLED):
        return "only a returned or cancelled order can be refunded (rule 7)"
    return None


def _check_no_dead_edges(table: Mapping[OrderState, frozenset[OrderState]], policy: str) -> None:
    # decide() applies rules 2 and 5-8 before it reads the table, so such an edge could never
    # be taken; refusing it at load keeps the table an honest picture of what happens.
    for source, targets in table.items():
        for target in sorted(targets, key=list(OrderState).index):
            reason = _dead_edge_reason(source, target)
            if reason is not None:
                raise PolicyError(
                    f"policy {policy!r}: {source.value} -> {target.value} cannot be a "
                    f"transition: {reason}"
                )


def _check_reachable(table: Mapping[OrderState, frozenset[OrderState]], policy: str) -> None:
    seen = {S.NEW}
    queue = deque([S.NEW])
    while queue:
        state = queue.popleft()
        for nxt in table.get(state, frozenset()) | _DERIVED_EDGES.get(state, frozenset()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    unreachable = [s.value for s in OrderState if s not in seen]
    if unreachable:
        raise PolicyError(f"policy {policy!r}: states unreachable from 'new': {unreachable}")
