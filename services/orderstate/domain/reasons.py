"""Why a change was rejected: one stable code per cause.

These codes are the contract for everyone who reads a rejection: the
``reason`` of an ``event.rejected`` event on ``orderstate.rejected.v1`` and
the ``code`` of a REST problem response carry the same value.

Input
    malformed                       the message could not be decoded or broke the schema: bad
                                    JSON, a missing attribute, a naive datetime, money as a float,
                                    an unknown type, a key that does not match shopid/orderid,
                                    a payload over the size, depth, item or string limits; also
                                    a change that would leave a required field empty.
Existence
    unknown_order                   the order does not exist (or was deleted); for shipment events
                                    only after they waited the parking TTL for the order to arrive.
    order_exists                    ``order.created`` for an order that exists with other content;
                                    ``order.imported`` for an order the shop has or had.
    version_conflict                the change carried ``expected_version`` (REST: If-Match) and the
                                    order is at another version (rule 11).
Lifecycle (the transition policy)
    state_not_settable              ``shipped`` or ``completed`` was requested; only the service
                                    derives them (rule 4).
    cancel_after_shipment           ``cancelled`` after an outbound shipment was linked (rule 5).
    return_without_shipment         ``returned``, or a return shipment, before any outbound
                                    shipment was linked (rules 6 and 9).
    refund_before_return_or_cancel  ``refunded`` from a state other than returned or cancelled
                                    (rule 7).
    refund_without_payment          ``refunded`` of an order that never showed payment evidence
                                    (rule 7).
    order_closed                    a change to a cancelled, returned or refunded order that the
                                    policy does not allow there (rules 8, 9, 10).
    order_completed                 ``boarding_complete`` changed, or an outbound shipment linked,
                                    after the order was completed (rule 10).
    transition_not_allowed          a forward move that a shop's own, stricter policy table does
                                    not contain (the default table allows every forward move).
Items and shipments
    item_exists                     ``order.item_added`` for an item id the order already has.
    item_not_found                  an item update or removal for an item id the order lacks.
    shipment_exists                 ``shipment.created`` for a shipment id already linked with other
                                    content.
    unknown_shipment                a shipment status or cancellation for a shipment that is not
                                    linked to the order.
    shipment_cancelled              a status change for a shipment that was cancelled.
Limits and faults
    order_too_large                 the change would make the order's outbound event (which
                                    carries the whole order) larger than ORDERSTATE_MAX_EVENT_BYTES.
    internal_error                  processing the event raised an unexpected error (a stored
                                    view that no longer validates, a parked event that no longer
                                    decodes, a bug); the rest of the batch is applied, the
                                    exception is logged and counted.
"""

from enum import StrEnum

__all__ = ["ReasonCode"]


class ReasonCode(StrEnum):
    MALFORMED = "malformed"
    UNKNOWN_ORDER = "unknown_order"
    ORDER_EXISTS = "order_exists"
    VERSION_CONFLICT = "version_conflict"
    STATE_NOT_SETTABLE = "state_not_settable"
    CANCEL_AFTER_SHIPMENT = "cancel_after_shipment"
    RETURN_WITHOUT_SHIPMENT = "return_without_shipment"
    REFUND_BEFORE_RETURN_OR_CANCEL = "refund_before_return_or_cancel"
    REFUND_WITHOUT_PAYMENT = "refund_without_payment"
    ORDER_CLOSED = "order_closed"
    ORDER_COMPLETED = "order_completed"
    TRANSITION_NOT_ALLOWED = "transition_not_allowed"
    ITEM_EXISTS = "item_exists"
    ITEM_NOT_FOUND = "item_not_found"
    SHIPMENT_EXISTS = "shipment_exists"
    UNKNOWN_SHIPMENT = "unknown_shipment"
    SHIPMENT_CANCELLED = "shipment_cancelled"
    ORDER_TOO_LARGE = "order_too_large"
    INTERNAL_ERROR = "internal_error"
