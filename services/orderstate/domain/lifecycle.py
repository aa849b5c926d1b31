"""State requests: rules 1-8 of docs/lifecycle.md.

The order of the checks is the specification: derived states are never
settable, a repeat is a no-op, a track state that is not ahead of the order is
late (recorded, not applied), and only then does the policy table decide; when
the table says no, the reason names the rule a shop developer would look up.
"""

from datetime import datetime

from orderstate.domain.changes import RequestState
from orderstate.domain.emitted import LateEventRecorded
from orderstate.domain.model import HistoryEntry, OrderView
from orderstate.domain.outcomes import (
    Decision,
    Effect,
    Rejected,
    accept,
    allowed_next_text,
    duplicate,
    move_to,
    reject,
)
from orderstate.domain.policy import Policy
from orderstate.domain.reasons import ReasonCode
from orderstate.domain.states import CLOSED_STATES, DERIVED_STATES, OrderState, track_rank

__all__ = ["is_late", "request_state"]

S = OrderState


def is_late(current: OrderState, requested: OrderState) -> bool:
    """A track state not ahead of the order: behind it (rule 2), or after it closed (rule 8)."""
    requested_rank = track_rank(requested)
    if requested_rank is None:
        return False
    if current in CLOSED_STATES:
        return True
    current_rank = track_rank(current)
    return current_rank is not None and requested_rank < current_rank


def request_state(view: OrderView, change: RequestState, policy: Policy, now: datetime) -> Decision:
    requested, current = change.state, view.state
    if requested in DERIVED_STATES:
        return reject(
            ReasonCode.STATE_NOT_SETTABLE,
            f"Order {view.order_id}: '{requested}' cannot be requested; orderstate sets "
            "'shipped' when the first outbound shipment is linked and 'completed' when boarding "
            "is complete and every outbound shipment is delivered. The order is "
            f"'{current}'; {allowed_next_text(policy, current)}.",
        )
    if requested == current:
        return duplicate(view)
    if is_late(current, requested):
        return _record_late(view, change, now)
    refusal = _refusal(view, requested, policy)
    if refusal is not None:
        return refusal
    if requested is S.REFUNDED and policy.refund_requires_payment and not view.payment_evidence:
        return reject(
            ReasonCode.REFUND_WITHOUT_PAYMENT,
            f"Order {view.order_id}: 'refunded' needs payment evidence, and no 'paid' state was "
            "ever recorded for this order (a late one would count). Send the 'paid' state first.",
        )
    updates, fact = move_to(view, requested, change, now, location=change.location)
    return accept(
        view,
        now,
        [fact],
        payment_evidence=view.payment_evidence or requested is S.PAID,
        **updates,
    )


def _record_late(view: OrderView, change: RequestState, now: datetime) -> Decision:
    # The same state at the same time is already recorded (re-sent, or redelivered after the
    # order moved on): nothing new to keep.
    if (change.state, change.occurred_at) in view.moments:
        return duplicate(view)
    entry = HistoryEntry(
        state=change.state,
        occurred_at=change.occurred_at,
        recorded_at=now,
        cause_event_id=change.event_id,
        late=True,
        location=change.location,
    )
    fact = LateEventRecorded(
        version=view.version + 1,
        cause_event_id=change.event_id,
        occurred_at=change.occurred_at,
        state=change.state,
        current_state=view.state,
    )
    return accept(
        view,
        now,
        [fact],
        effect=Effect.LATE,
        **view.recording([entry]),
        payment_evidence=view.payment_evidence or change.state is S.PAID,
    )


def _refusal(view: OrderView, requested: OrderState, policy: Policy) -> Rejected | None:
    """Rules 5-8 first, for every table; then the table itself. The message is written only
    for a refusal: most requests pass, and writing it for each of them cost about 7 % of
    deciding an event (bench/results-worker-cost.md)."""
    reason = _broken_rule(view, requested, policy)
    if reason is None:
        return None
    allowed = allowed_next_text(policy, view.state)
    message = _REFUSALS[reason].format(
        prefix=f"Order {view.order_id} is '{view.state}'; '{requested}' cannot follow it",
        allowed=allowed,
        Allowed=allowed.capitalize(),
        policy=policy.name,
    )
    return reject(reason, message)


def _broken_rule(view: OrderView, requested: OrderState, policy: Policy) -> ReasonCode | None:
    current = view.state
    if current in CLOSED_STATES and requested not in policy.allowed_after(current):
        return ReasonCode.ORDER_CLOSED
    if requested is S.CANCELLED and view.has_outbound_shipment:
        return ReasonCode.CANCEL_AFTER_SHIPMENT
    if requested is S.RETURNED and not view.has_outbound_shipment:
        return ReasonCode.RETURN_WITHOUT_SHIPMENT
    if requested is S.REFUNDED and current not in (S.RETURNED, S.CANCELLED):
        return ReasonCode.REFUND_BEFORE_RETURN_OR_CANCEL
    if requested not in policy.allowed_after(current):
        return ReasonCode.TRANSITION_NOT_ALLOWED
    return None


_REFUSALS = {
    ReasonCode.ORDER_CLOSED: "{prefix}: the order is closed; {allowed}.",
    ReasonCode.CANCEL_AFTER_SHIPMENT: "{prefix}: an outbound shipment is linked, so the order "
    "can no longer be cancelled; send 'returned' once it comes back. {Allowed}.",
    ReasonCode.RETURN_WITHOUT_SHIPMENT: "{prefix}: nothing was shipped yet, so nothing can be "
    "returned; link an outbound shipment first, or cancel the order. {Allowed}.",
    ReasonCode.REFUND_BEFORE_RETURN_OR_CANCEL: "{prefix}: an order is refunded only after it "
    "was returned or cancelled. {Allowed}.",
    ReasonCode.TRANSITION_NOT_ALLOWED: "{prefix} under policy '{policy}'; {allowed}.",
}
