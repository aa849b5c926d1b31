"""Invariants of ``decide`` over random histories.

The invariants of docs/lifecycle.md: never backward, refunded terminal, history only grows,
and versions, emitted facts, idempotency, payment evidence and rule 10. Each example creates one
order (in a random allowed state, with or without boarding) and then applies 10 to 50 random
changes: state requests of any of the ten states, outbound and return shipment links,
shipment status changes (delivered and cancelled included), boarding set and unset, items,
tags, and sometimes an ``expected_version`` (current or stale). ``occurred_at`` is random;
the caller's clock ``now`` strictly increases.

Every invariant is a named function checked on every step. The tests group them so one
random history is generated once and checked many ways: Hypothesis spends most of the time
generating, and the suite must stay fast. A failure names the invariant in its traceback.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orderstate.domain import (
    DEFAULT_POLICY,
    TRACK,
    Accepted,
    AddItem,
    CancelShipment,
    Change,
    ChangeShipmentStatus,
    CreateOrder,
    Decision,
    Effect,
    Item,
    ItemPatch,
    LinkShipment,
    OrderState,
    OrderView,
    Rejected,
    RemoveItem,
    RequestState,
    SetBoarding,
    SetTags,
    ShipmentDirection,
    ShipmentStatus,
    StateChanged,
    Tags,
    UpdateItem,
    decide,
    history_summary,
)
from tests.unit.domain.factories import ORDER, SHOP, T0, order_fields

S = OrderState
OUT = ShipmentDirection.OUTBOUND
RET = ShipmentDirection.RETURN
CLOSED = (S.CANCELLED, S.RETURNED, S.REFUNDED)
RANK = {state: rank for rank, state in enumerate(TRACK)}
SETTABLE_TRACK = (S.NEW, S.PAID, S.IN_PRODUCTION, S.WAREHOUSE_HANDOVER, S.IN_PREPARATION)
PROPERTY = settings(max_examples=500, deadline=None)

# Every change a step can make, repeated by weight. State requests and outbound links
# dominate: they are what the rules are about, and deep states (completed, refunded) need a
# paid, a link, a delivery or a return, and a refund in one history.
STATE_WEIGHTS = {
    S.NEW: 2,
    S.PAID: 6,
    S.IN_PRODUCTION: 3,
    S.WAREHOUSE_HANDOVER: 3,
    S.IN_PREPARATION: 3,
    S.SHIPPED: 2,
    S.COMPLETED: 2,
    S.RETURNED: 6,
    S.REFUNDED: 6,
    S.CANCELLED: 4,
}
OPS: tuple[tuple[Any, ...], ...] = (
    *[("state", state) for state, weight in STATE_WEIGHTS.items() for _ in range(weight)],
    *[
        ("link", shipment_id, direction, status)
        for shipment_id, direction, weight in (
            ("s-1", OUT, 3),
            ("s-2", OUT, 2),
            ("r-1", RET, 2),
            ("s-1", RET, 1),
        )
        for status in (ShipmentStatus.NEW, ShipmentStatus.DELIVERED)
        for _ in range(weight)
    ],
    *[
        ("status", shipment_id, status)
        for shipment_id in ("s-1", "s-2", "r-1")
        for status in (
            ShipmentStatus.IN_TRANSIT,
            ShipmentStatus.DELIVERED,
            ShipmentStatus.DELIVERED,
            ShipmentStatus.UNDELIVERABLE,
            ShipmentStatus.CANCELLED,
        )
    ],
    *[("cancel_shipment", shipment_id) for shipment_id in ("s-1", "s-2", "r-1")],
    *[("boarding", value) for value in (True, False) for _ in range(3)],
    *[("add_item", item_id, quantity) for item_id in ("i-1", "i-2") for quantity in (1, 2)],
    *[("update_item", item_id, quantity) for item_id in ("i-1", "i-2") for quantity in (1, 2)],
    *[("remove_item", item_id) for item_id in ("i-1", "i-2")],
    *[
        ("tags", tags, merge)
        for tags in ({}, {"a": "x"}, {"a": "y"}, {"a": "x", "b": "y"})
        for merge in (True, False)
    ],
)
# expected_version sent with the change: mostly none, sometimes the current or a stale one.
EXPECTATIONS = ("none",) * 8 + ("current", "stale")
INITIAL_STATES = (
    None,
    S.NEW,
    S.PAID,
    S.IN_PRODUCTION,
    S.WAREHOUSE_HANDOVER,
    S.IN_PREPARATION,
    S.CANCELLED,
)

# One integer per step (one draw each keeps 500 examples fast), decoded by _decode into
# (op, expectation, occurred_at minutes 0-1440, seconds to the next `now` 1-3600). It
# shrinks towards the first op, no expected version, the order date and one second.
_STEP_SPACE = len(OPS) * len(EXPECTATIONS) * 1441 * 3600
SCRIPTS = st.tuples(
    st.sampled_from(INITIAL_STATES),
    st.booleans(),
    st.lists(st.integers(0, _STEP_SPACE - 1), min_size=10, max_size=50),
)


def _decode(step: int) -> tuple[tuple[Any, ...], str, int, int]:
    step, op = divmod(step, len(OPS))
    step, expectation = divmod(step, len(EXPECTATIONS))
    gap, minutes = divmod(step, 1441)
    return OPS[op], EXPECTATIONS[expectation], minutes, gap + 1


@dataclass(frozen=True)
class Step:
    before: OrderView
    change: Change
    decision: Accepted | Rejected
    now: datetime
    # The same change decided again right after, or None when not asked for.
    again: Decision | None

    @property
    def after(self) -> OrderView:
        return self.decision.new_view if isinstance(self.decision, Accepted) else self.before

    @property
    def effect(self) -> Effect | None:
        return self.decision.effect if isinstance(self.decision, Accepted) else None

    @property
    def moved(self) -> bool:
        """Applied or late: the changes that count a version."""
        return self.effect in (Effect.APPLIED, Effect.LATE)


def _change(op: tuple[Any, ...], base: dict[str, Any]) -> Change:
    kind = op[0]
    if kind == "state":
        return RequestState(**base, state=op[1])
    if kind == "link":
        return LinkShipment(**base, shipment_id=op[1], direction=op[2], status=op[3])
    if kind == "status":
        return ChangeShipmentStatus(**base, shipment_id=op[1], status=op[2])
    if kind == "cancel_shipment":
        return CancelShipment(**base, shipment_id=op[1])
    if kind == "boarding":
        return SetBoarding(**base, boarding_complete=op[1])
    if kind == "add_item":
        return AddItem(**base, item=Item(item_id=op[1], sku=f"SKU-{op[1]}", quantity=op[2]))
    if kind == "update_item":
        return UpdateItem(**base, item_id=op[1], patch=ItemPatch(quantity=op[2]))
    if kind == "remove_item":
        return RemoveItem(**base, item_id=op[1])
    assert kind == "tags"
    return SetTags(**base, tags=op[1], merge=op[2])


def _run(script: tuple[OrderState | None, bool, list[int]], *, again: bool = False) -> list[Step]:
    initial, boarding, steps = script
    now = T0 + timedelta(minutes=1)
    created = decide(
        None,
        CreateOrder(
            shop_id=SHOP,
            order_id=ORDER,
            event_id="ev-0",
            occurred_at=T0,
            fields=order_fields(),
            state=initial,
            boarding_complete=boarding,
        ),
        DEFAULT_POLICY,
        now,
    )
    assert isinstance(created, Accepted)
    view = created.new_view
    trace = []
    for number, step in enumerate(steps, start=1):
        op, expectation, minutes, gap = _decode(step)
        now += timedelta(seconds=gap)
        expected_version = {"none": None, "current": view.version, "stale": view.version - 1}
        change = _change(
            op,
            {
                "shop_id": SHOP,
                "order_id": ORDER,
                "event_id": f"ev-{number}",
                "occurred_at": T0 + timedelta(minutes=minutes),
                "expected_version": expected_version[expectation],
            },
        )
        decision = decide(view, change, DEFAULT_POLICY, now)
        # The order exists, so nothing is parked.
        assert isinstance(decision, Accepted | Rejected), decision
        after = decision.new_view if isinstance(decision, Accepted) else view
        repeat = None
        if again:
            repeat = decide(after, change, DEFAULT_POLICY, now + timedelta(milliseconds=1))
        trace.append(Step(view, change, decision, now, repeat))
        view = after
    return trace


# The invariants, one function each.


def summary_matches_the_history(step: Step) -> None:
    """The summary a view keeps step by step is the one its whole history gives."""
    summary = history_summary(step.after.history)
    assert {name: getattr(step.after, name) for name in summary} == summary


def _without_entries(decision: Decision) -> Decision:
    if not isinstance(decision, Accepted):
        return decision
    view = decision.new_view.model_copy(update={"history": (), "moments": frozenset()})
    return replace(decision, new_view=view)


def the_stored_view_decides_alike(step: Step) -> None:
    """The view as PostgreSQL stores it, given only the moment the change asks about (as
    projector/stored_views.py loads it), decides exactly as the view with its whole history."""
    change = step.change
    asked = {(change.state, change.occurred_at)} if isinstance(change, RequestState) else set()
    stored = OrderView.model_validate_json(step.before.model_dump_json()).model_copy(
        update={"moments": step.before.moments & asked}
    )
    assert stored.history == ()
    decision = decide(stored, change, DEFAULT_POLICY, step.now)
    assert _without_entries(decision) == _without_entries(step.decision)
    if isinstance(decision, Accepted):
        assert decision.new_view.history == step.after.history[len(step.before.history) :]


def track_never_moves_backward(step: Step) -> None:
    """Rules 1, 2, 8: on the track the rank never falls; once closed, never back on it."""
    before, after = step.before.state, step.after.state
    if before in CLOSED:
        assert after in CLOSED, step
    elif after in RANK:
        assert RANK[after] >= RANK[before], step


def track_states_are_never_rejected(step: Step) -> None:
    """Rules 1, 2, 8: a settable track state applies, is late or is a duplicate; never refused."""
    change, decision = step.change, step.decision
    if isinstance(change, RequestState) and change.state in SETTABLE_TRACK:
        assert not isinstance(decision, Rejected) or decision.reason == "version_conflict", step


def refunded_is_terminal(step: Step) -> None:
    """Rule 7: nothing after refunded changes the state or publishes a state change."""
    if step.before.state is S.REFUNDED:
        assert step.after.state is S.REFUNDED, step
        if isinstance(step.decision, Accepted):
            assert not any(isinstance(f, StateChanged) for f in step.decision.emitted), step


def every_move_is_published(step: Step) -> None:
    """StateChanged facts chain from the old state to the new one, each with a history entry."""
    if not isinstance(step.decision, Accepted):
        return
    moves = [fact for fact in step.decision.emitted if isinstance(fact, StateChanged)]
    chain = [step.before.state] + [move.to_state for move in moves]
    assert [move.from_state for move in moves] == chain[:-1], step
    assert chain[-1] is step.after.state, step
    added = step.after.history[len(step.before.history) :]
    assert [entry.state for entry in added if not entry.late] == chain[1:], step
    if step.effect is Effect.LATE:
        assert step.after.state is step.before.state, step


def order_completes_as_soon_as_due(step: Step) -> None:
    """Derived state: no change leaves a shipped order that is boarded and fully delivered."""
    view = step.after
    outbound = [
        s for s in view.shipments if s.direction is OUT and s.status is not ShipmentStatus.CANCELLED
    ]
    due = (
        view.boarding_complete
        and bool(outbound)
        and all(s.status is ShipmentStatus.DELIVERED for s in outbound)
    )
    assert not (view.state is S.SHIPPED and due), step


def history_only_grows(step: Step) -> None:
    """History is append-only, ordered by recorded_at; new entries are recorded at `now`."""
    old, new = step.before.history, step.after.history
    assert new[: len(old)] == old, step
    assert all(entry.recorded_at == step.now for entry in new[len(old) :]), step
    recorded = [entry.recorded_at for entry in new]
    assert recorded == sorted(recorded), step
    if step.effect is Effect.LATE:
        assert len(new) == len(old) + 1, step
        assert new[-1].late is True, step


def version_counts_applied_and_late_changes(step: Step) -> None:
    """+1 for applied or late; duplicates and rejections leave the view exactly as it was."""
    if step.moved:
        assert step.after.version == step.before.version + 1, step
        assert step.after.updated_at == step.now, step
    else:
        assert step.after == step.before, step


def every_fact_carries_the_new_version(step: Step) -> None:
    """Gap-free sequences: an applied or late change emits facts, all at the new version."""
    if not isinstance(step.decision, Accepted):
        return
    facts = step.decision.emitted
    if step.moved:
        assert facts, step
        assert {fact.version for fact in facts} == {step.after.version}, step
        assert {fact.cause_event_id for fact in facts} == {step.change.event_id}, step
    else:
        assert facts == (), step


def view_stays_frozen_and_hashable(step: Step) -> None:
    """Every view decide returns is immutable all the way down, so it hashes by value."""
    assert isinstance(step.after.tags, Tags), step
    assert hash(step.after) == hash(step.after.model_copy()), step


def every_rejection_explains_itself(step: Step) -> None:
    """A rejection has a message for the shop developer that names the order."""
    if isinstance(step.decision, Rejected):
        assert step.decision.message.strip(), step
        assert f"Order {ORDER}" in step.decision.message, step


def reapplying_changes_nothing(step: Step) -> None:
    """Rule 3: the same change decided again right away is a duplicate or a rejection."""
    again = step.again
    if isinstance(again, Accepted):
        assert again.effect is Effect.DUPLICATE, step
        assert again.emitted == (), step
        assert again.new_view == step.after, step
    else:
        assert isinstance(again, Rejected), step


def paid_is_evidence_even_late(step: Step) -> None:
    """Rules 2 and 7: a recorded 'paid', applied or late, is evidence; evidence never goes."""
    if step.before.payment_evidence:
        assert step.after.payment_evidence, step
    change = step.change
    if isinstance(change, RequestState) and change.state is S.PAID and step.moved:
        assert step.after.payment_evidence, step
    if any(entry.state is S.PAID for entry in step.after.history):
        assert step.after.payment_evidence, step


def boarding_frozen_once_completed_cancelled_or_refunded(step: Step) -> None:
    """Rule 10: boarding_complete never changes on a completed, cancelled or refunded order."""
    if step.before.state in (S.COMPLETED, S.CANCELLED, S.REFUNDED):
        assert step.after.boarding_complete == step.before.boarding_complete, step


@PROPERTY
@given(SCRIPTS)
def test_track_never_moves_backward_and_refunded_is_terminal(script: Any) -> None:
    """Rules 1, 2, 7, 8 and the derived states hold after every change of a random history."""
    for step in _run(script):
        track_never_moves_backward(step)
        track_states_are_never_rejected(step)
        refunded_is_terminal(step)
        every_move_is_published(step)
        order_completes_as_soon_as_due(step)


@PROPERTY
@given(SCRIPTS)
def test_history_only_grows_and_versions_count_accepted_changes(script: Any) -> None:
    """History is append-only; versions and emitted facts count applied and late changes."""
    for step in _run(script):
        history_only_grows(step)
        version_counts_applied_and_late_changes(step)
        every_fact_carries_the_new_version(step)
        every_rejection_explains_itself(step)
        view_stays_frozen_and_hashable(step)


@PROPERTY
@given(SCRIPTS)
def test_reapplying_a_change_changes_nothing(script: Any) -> None:
    """Rule 3: every change, decided twice in a row, has no further effect the second time."""
    for step in _run(script, again=True):
        reapplying_changes_nothing(step)


@PROPERTY
@given(SCRIPTS)
def test_late_paid_is_evidence_and_boarding_freezes(script: Any) -> None:
    """Rules 2, 7 and 10: payment evidence is never lost; boarding freezes on closed orders."""
    for step in _run(script):
        paid_is_evidence_even_late(step)
        boarding_frozen_once_completed_cancelled_or_refunded(step)


def test_scripted_history_through_the_generator_reaches_deep_states() -> None:
    """The step encoding works: a script of op indices drives an order to refunded."""
    ops = [
        ("state", S.PAID),
        ("link", "s-1", OUT, ShipmentStatus.NEW),
        ("status", "s-1", ShipmentStatus.DELIVERED),
        ("state", S.RETURNED),
        ("state", S.REFUNDED),
        ("state", S.NEW),
    ]
    # An index below len(OPS) decodes to that op, no expected version, the order date, 1 s.
    trace = _run((None, True, [OPS.index(op) for op in ops]))

    assert [step.after.state for step in trace] == [
        S.PAID,
        S.SHIPPED,
        S.COMPLETED,
        S.RETURNED,
        S.REFUNDED,
        S.REFUNDED,
    ]
    # new at the order date is the creation's own entry again: a duplicate, not a late state.
    assert [step.effect for step in trace] == [Effect.APPLIED] * 5 + [Effect.DUPLICATE]
    assert [step.now - T0 for step in trace] == [
        timedelta(minutes=1, seconds=seconds) for seconds in range(1, 7)
    ]


@PROPERTY
@given(SCRIPTS)
def test_the_stored_summary_stands_for_the_whole_history(script: Any) -> None:
    """The view keeps a summary instead of the entries; it decides as the entries would."""
    for step in _run(script):
        summary_matches_the_history(step)
        the_stored_view_decides_alike(step)
