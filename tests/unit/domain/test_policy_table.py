"""The whole transition policy as a table, and loading shop tables from configuration.

For every (current, requested) pair of the ten states the outcome is written out below:
applied, late, duplicate, or the reason code of the rejection. Each current state is
reached by a realistic path through ``decide`` (``story_in``), with payment evidence.
"""

from collections.abc import Mapping
from typing import Any

import pytest

from orderstate.domain import (
    DEFAULT_POLICY,
    Accepted,
    OrderState,
    Policy,
    PolicyError,
    ReasonCode,
    Rejected,
    load_policy,
    load_policy_book,
)
from tests.unit.domain.factories import (
    DEFAULT_TABLE,
    STRICT_TABLE,
    Story,
    create_order,
    request_state,
    story_in,
)

S = OrderState

APP = "applied"
LATE = "late"
DUP = "duplicate"
NSET = "state_not_settable"
CAS = "cancel_after_shipment"
RWS = "return_without_shipment"
RBRC = "refund_before_return_or_cancel"
CLOSED = "order_closed"
TNA = "transition_not_allowed"

COLUMNS = (
    S.NEW,
    S.PAID,
    S.IN_PRODUCTION,
    S.WAREHOUSE_HANDOVER,
    S.IN_PREPARATION,
    S.SHIPPED,
    S.COMPLETED,
    S.RETURNED,
    S.REFUNDED,
    S.CANCELLED,
)

# fmt: off
#                         new   paid  in_pr  wh_ho  in_pre shipd  compl  retur  refun  cancl
DEFAULT_OUTCOMES = {
    "new":                (DUP,  APP,  APP,   APP,   APP,   NSET,  NSET,  RWS,   RBRC,  APP),
    "paid":               (LATE, DUP,  APP,   APP,   APP,   NSET,  NSET,  RWS,   RBRC,  APP),
    "in_production":      (LATE, LATE, DUP,   APP,   APP,   NSET,  NSET,  RWS,   RBRC,  APP),
    "warehouse_handover": (LATE, LATE, LATE,  DUP,   APP,   NSET,  NSET,  RWS,   RBRC,  APP),
    "in_preparation":     (LATE, LATE, LATE,  LATE,  DUP,   NSET,  NSET,  RWS,   RBRC,  APP),
    "shipped":            (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  APP,   RBRC,  CAS),
    "completed":          (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  APP,   RBRC,  CAS),
    "returned":           (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  DUP,   APP,   CLOSED),
    "refunded":           (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  CLOSED, DUP,  CLOSED),
    "cancelled":          (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  CLOSED, APP,  DUP),
}

# A shop that may not skip: the same, except that skipping forward is transition_not_allowed.
STRICT_OUTCOMES = {
    "new":                (DUP,  APP,  TNA,   TNA,   TNA,   NSET,  NSET,  RWS,   RBRC,  APP),
    "paid":               (LATE, DUP,  APP,   TNA,   TNA,   NSET,  NSET,  RWS,   RBRC,  APP),
    "in_production":      (LATE, LATE, DUP,   APP,   TNA,   NSET,  NSET,  RWS,   RBRC,  APP),
    "warehouse_handover": (LATE, LATE, LATE,  DUP,   APP,   NSET,  NSET,  RWS,   RBRC,  APP),
    "in_preparation":     (LATE, LATE, LATE,  LATE,  DUP,   NSET,  NSET,  RWS,   RBRC,  APP),
    "shipped":            (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  APP,   RBRC,  CAS),
    "completed":          (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  APP,   RBRC,  CAS),
    "returned":           (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  DUP,   APP,   CLOSED),
    "refunded":           (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  CLOSED, DUP,  CLOSED),
    "cancelled":          (LATE, LATE, LATE,  LATE,  LATE,  NSET,  NSET,  CLOSED, APP,  DUP),
}
# fmt: on

# What a rejection of a state request says may follow the current state.
DEFAULT_ALLOWED = {
    "new": "allowed next states: paid, in_production, warehouse_handover, in_preparation, "
    "cancelled",
    "paid": "allowed next states: in_production, warehouse_handover, in_preparation, cancelled",
    "in_production": "allowed next states: warehouse_handover, in_preparation, cancelled",
    "warehouse_handover": "allowed next states: in_preparation, cancelled",
    "in_preparation": "allowed next states: cancelled",
    "shipped": "allowed next states: returned",
    "completed": "allowed next states: returned",
    "returned": "allowed next states: refunded",
    "refunded": "no state may follow refunded",
    "cancelled": "allowed next states: refunded",
}
STRICT_ALLOWED = DEFAULT_ALLOWED | {
    "new": "allowed next states: paid, cancelled",
    "paid": "allowed next states: in_production, cancelled",
    "in_production": "allowed next states: warehouse_handover, cancelled",
}

STRICT_POLICY = load_policy({"transitions": STRICT_TABLE}, name="shop s-strict")


def _cells(outcomes: Mapping[str, tuple[str, ...]]) -> list[Any]:
    return [
        pytest.param(S(current), requested, expected, id=f"{current}->{requested}")
        for current, row in outcomes.items()
        for requested, expected in zip(COLUMNS, row, strict=True)
    ]


def _check_cell(
    policy: Policy,
    allowed: dict[str, str],
    current: OrderState,
    requested: OrderState,
    expected: str,
) -> None:
    story = story_in(current, policy)
    before = story.order

    decision = story.decide(request_state(requested))

    if isinstance(decision, Accepted):
        assert decision.effect.value == expected
        if expected == APP:
            assert (decision.new_view.state, decision.new_view.version) == (
                requested,
                before.version + 1,
            )
        elif expected == LATE:
            assert (decision.new_view.state, decision.new_view.version) == (
                current,
                before.version + 1,
            )
            assert decision.new_view.history[-1].late is True
        else:
            assert decision.new_view == before
            assert decision.emitted == ()
    else:
        assert isinstance(decision, Rejected), decision
        assert decision.reason.value == expected
        assert allowed[current.value] in decision.message.lower()
        assert story.order == before


def test_tables_cover_every_pair_of_states() -> None:
    """The literal tables below are complete: ten rows of ten columns."""
    assert set(DEFAULT_OUTCOMES) == {s.value for s in OrderState}
    assert set(STRICT_OUTCOMES) == {s.value for s in OrderState}
    assert len(COLUMNS) == len(set(COLUMNS)) == 10


@pytest.mark.parametrize(("current", "requested", "expected"), _cells(DEFAULT_OUTCOMES))
def test_default_policy_outcome(current: OrderState, requested: OrderState, expected: str) -> None:
    """Rules 1-8 over every pair; a rejection names the states allowed after the current one."""
    _check_cell(DEFAULT_POLICY, DEFAULT_ALLOWED, current, requested, expected)


@pytest.mark.parametrize(("current", "requested", "expected"), _cells(STRICT_OUTCOMES))
def test_strict_shop_policy_outcome(
    current: OrderState, requested: OrderState, expected: str
) -> None:
    """A shop table without skipping: forward skips are transition_not_allowed, the rest holds."""
    _check_cell(STRICT_POLICY, STRICT_ALLOWED, current, requested, expected)


def test_default_policy_is_the_documented_table() -> None:
    """The built-in default equals the table of docs/lifecycle.md written out as configuration."""
    loaded = load_policy({"transitions": DEFAULT_TABLE}, name="default")

    assert loaded.transitions == DEFAULT_POLICY.transitions
    assert loaded == DEFAULT_POLICY
    assert DEFAULT_POLICY.refund_requires_payment is True
    assert DEFAULT_POLICY.park_ttl.total_seconds() == 86400


def test_strict_shop_table_refuses_skipping() -> None:
    """A shop's own table: skipping is transition_not_allowed, naming the allowed states."""
    story = Story(STRICT_POLICY)
    story.accept(create_order())

    rejected = story.reject(request_state(S.IN_PREPARATION))

    assert rejected.reason is ReasonCode.TRANSITION_NOT_ALLOWED
    assert rejected.message == (
        "Order o-1 is 'new'; 'in_preparation' cannot follow it under policy 'shop s-strict'; "
        "allowed next states: paid, cancelled."
    )


def test_a_refusal_quotes_the_policy_name_as_it_is() -> None:
    """The refusal's text is a template filled with the order and policy: braces in a
    name are text, not places in the template."""
    story = Story(load_policy({"transitions": STRICT_TABLE}, name="shop {prefix} {0}"))
    story.accept(create_order())

    rejected = story.reject(request_state(S.IN_PREPARATION))

    assert rejected.message == (
        "Order o-1 is 'new'; 'in_preparation' cannot follow it under policy 'shop {prefix} {0}'; "
        "allowed next states: paid, cancelled."
    )


def test_policy_book_gives_each_shop_its_table() -> None:
    """load_policy_book: shops with a table get it, every other shop the default."""
    book = load_policy_book({"shops": {"s-strict": {"transitions": STRICT_TABLE}}})

    assert book.for_shop("s-strict") == STRICT_POLICY
    assert book.for_shop("s-strict").name == "shop s-strict"
    assert book.for_shop("shop-1") is DEFAULT_POLICY
    assert load_policy_book({}).for_shop("anyone") is DEFAULT_POLICY


def test_policy_book_default_may_be_replaced() -> None:
    """load_policy_book: a 'default' table replaces the built-in one for every other shop."""
    book = load_policy_book(
        {"default": {"transitions": STRICT_TABLE, "park_ttl_seconds": 600}, "shops": {}}
    )

    policy = book.for_shop("shop-1")
    assert policy.name == "default"
    assert policy.transitions == STRICT_POLICY.transitions
    assert policy.park_ttl.total_seconds() == 600


def _load_error(data: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as error:
        load_policy(data, name="x")
    return str(error.value)


def _with(**changes: list[str]) -> dict[str, Any]:
    return {"transitions": STRICT_TABLE | changes}


def test_unknown_state_name_is_refused() -> None:
    """Loading: a misspelt target state stops start-up and lists the real states."""
    assert _load_error(_with(new=["payed"])) == (
        "policy 'x': unknown state 'payed'; states are new, paid, in_production, "
        "warehouse_handover, in_preparation, shipped, completed, returned, refunded, cancelled"
    )


def test_unknown_source_state_is_refused() -> None:
    """Loading: a misspelt source state is refused the same way."""
    assert _load_error(_with(shiped=["returned"])).startswith(
        "policy 'x': unknown state 'shiped'; states are new, "
    )


@pytest.mark.parametrize("derived", ["shipped", "completed"])
def test_derived_target_state_is_refused(derived: str) -> None:
    """Loading: shipped and completed are never table targets (rule 4)."""
    message = _load_error(_with(new=["paid", derived, "cancelled"]))

    assert message.startswith("policy 'x': ")
    assert message.endswith(
        "after 'new': shipped and completed are derived by the service and cannot be requested"
    )
    assert f"'{derived}'" in message


def test_derived_target_state_message_names_plain_states() -> None:
    """Loading: the message names states as they are written in the configuration."""
    assert _load_error(_with(new=["paid", "shipped", "cancelled"])) == (
        "policy 'x': ['shipped'] after 'new': shipped and completed are derived by the service "
        "and cannot be requested"
    )


_BACKWARD = "it moves backward on the track, which is recorded as late (rule 2)"


@pytest.mark.parametrize(
    ("changes", "edge", "why"),
    [
        ({"paid": ["new", "in_production", "cancelled"]}, "paid -> new", _BACKWARD),
        ({"paid": ["paid", "in_production", "cancelled"]}, "paid -> paid", _BACKWARD),
        (
            {"cancelled": ["refunded", "in_preparation"]},
            "cancelled -> in_preparation",
            "a track state after a closed state is recorded as late (rule 8)",
        ),
    ],
    ids=["backward", "self_loop", "closed_to_track"],
)
def test_backward_edge_is_refused(changes: dict[str, list[str]], edge: str, why: str) -> None:
    """Loading: an edge rule 2 or 8 would always record as late cannot be a transition."""
    assert _load_error(_with(**changes)) == f"policy 'x': {edge} cannot be a transition: {why}"


def test_unreachable_state_is_refused() -> None:
    """Loading: a table in which some state can never be reached is a configuration mistake."""
    assert _load_error(_with(shipped=[], completed=[])) == (
        "policy 'x': states unreachable from 'new': ['returned']"
    )


def test_table_without_terminal_state_is_refused() -> None:
    """Loading: some state must lead nowhere, or no order ever ends; refunded always does."""
    assert _load_error(_with(refunded=["cancelled"])) == (
        "policy 'x': refunded -> cancelled cannot be a transition: refunded is terminal (rule 7)"
    )


def test_unknown_policy_key_is_refused() -> None:
    """Loading: a misspelt setting is an error, not silently ignored."""
    assert _load_error({"transitions": STRICT_TABLE, "ttl": 60}) == (
        "policy 'x': unknown keys ['ttl']"
    )


def test_unknown_book_key_is_refused() -> None:
    """Loading: the configuration has 'default' and 'shops' only."""
    with pytest.raises(PolicyError) as error:
        load_policy_book({"defaults": {}, "shop": {}})

    assert str(error.value) == (
        "policy configuration: unknown keys ['defaults', 'shop']; "
        "expected 'default', 'shops' and/or 'alerts'"
    )


def test_missing_transitions_is_refused() -> None:
    """Loading: a table needs its transitions."""
    assert _load_error({"park_ttl_seconds": 60}) == "policy 'x': 'transitions' is required"


@pytest.mark.parametrize("ttl", [0, -60, 1.5, "3600", True, None])
def test_bad_park_ttl_is_refused(ttl: object) -> None:
    """Loading: park_ttl_seconds is a positive whole number of seconds (rule 9's TTL)."""
    assert _load_error({"transitions": STRICT_TABLE, "park_ttl_seconds": ttl}) == (
        "policy 'x': 'park_ttl_seconds' must be a positive integer"
    )


def test_bad_refund_requires_payment_is_refused() -> None:
    """Loading: refund_requires_payment is a boolean, not a truthy string."""
    assert _load_error({"transitions": STRICT_TABLE, "refund_requires_payment": "no"}) == (
        "policy 'x': 'refund_requires_payment' must be true or false"
    )


def test_targets_must_be_a_list() -> None:
    """Loading: 'new': 'paid' is a typo for a one-element list."""
    assert _load_error({"transitions": STRICT_TABLE | {"new": "paid"}}) == (
        "policy 'x': targets of 'new' must be a list"
    )


def test_shop_table_error_names_the_shop() -> None:
    """Loading a book: the error says which shop's table is broken."""
    with pytest.raises(PolicyError) as error:
        load_policy_book({"shops": {"s-9": {"transitions": STRICT_TABLE | {"new": ["payed"]}}}})

    assert str(error.value).startswith("policy 'shop s-9': unknown state 'payed'")


def test_shop_table_must_be_a_mapping() -> None:
    """Loading a book: every shop entry is a table."""
    with pytest.raises(PolicyError) as error:
        load_policy_book({"shops": {"s-9": ["paid"]}})

    assert str(error.value) == "policy configuration: 'shops.s-9' must be a mapping"


@pytest.mark.parametrize(
    ("changes", "current", "requested", "reason"),
    [
        ({"in_preparation": ["cancelled", "returned"]}, S.IN_PREPARATION, S.RETURNED, RWS),
        ({"shipped": ["returned", "cancelled"]}, S.SHIPPED, S.CANCELLED, CAS),
        ({"paid": ["in_production", "cancelled", "refunded"]}, S.PAID, S.REFUNDED, RBRC),
        ({"refunded": ["cancelled"], "completed": []}, S.REFUNDED, S.CANCELLED, CLOSED),
    ],
    ids=["rule6_return_unshipped", "rule5_cancel_shipped", "rule7_refund_paid", "rule7_terminal"],
)
def test_shop_table_cannot_break_the_shipment_and_refund_rules(
    changes: dict[str, list[str]], current: OrderState, requested: OrderState, reason: str
) -> None:
    """Rules 5-7 hold under every table: refused at load time, or refused by decide."""
    try:
        policy = load_policy(_with(**changes), name="shop loose")
    except PolicyError:
        return
    story = story_in(current, policy)

    rejected = story.reject(request_state(requested))

    assert rejected.reason == reason
