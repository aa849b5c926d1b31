"""/v2/order-states (Seven Senders) and /v2/orders/{order_id}/states."""

from typing import Annotated

from fastapi import APIRouter, Request, Response

from orderstate.api.compat.normalise import ORDER_STATE
from orderstate.api.compat.openapi import request_body
from orderstate.api.deps import (
    Context,
    ExpectedVersion,
    IdempotencyKey,
    OrderIdPath,
    ShopId,
    etag,
)
from orderstate.api.representation import StateOut, order_iri, order_out
from orderstate.api.requests import OrderStateCreate, OrderStateResult
from orderstate.api.routes._common import (
    PROBLEMS,
    apply_change,
    json_response,
    order_or_404,
    version_of,
)
from orderstate.api.routes.body import compat_body
from orderstate.projector.apply import Outcome, OutcomeKind

__all__ = ["router"]

router = APIRouter(tags=["order states"], responses=PROBLEMS)

_MESSAGES = {
    OutcomeKind.APPLIED: "The order moved to the requested state.",
    OutcomeKind.LATE: (
        "The state arrived after a later one: it was recorded in states_history as late and "
        "counts as evidence (a late 'paid' proves payment), but the current state stayed."
    ),
    OutcomeKind.DUPLICATE: "The order already was in this state; nothing changed.",
}


@router.post(
    "/v2/order-states",
    status_code=201,
    response_model=OrderStateResult,
    openapi_extra=request_body(OrderStateCreate),
)
async def post_order_state(
    body: Annotated[OrderStateCreate, compat_body(ORDER_STATE)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record that the order reached a state at the shop (`datetime`). 201 with `Location` of
    the order, also for a late state, which the body reports as `recorded_as: late`. Also
    at `/v2/order_states` (the WooCommerce plugin); `shop_order_id` is read as `order_id`,
    and a `datetime` without an offset is read in the API key's time zone. `If-Match` (or
    `expected_version` in the body) makes it conditional on the version read."""
    data: dict[str, object] = {
        "state": body.state.value,
        "occurred_at": body.datetime.isoformat(),
    }
    if body.expected_version is not None:
        data["expected_version"] = body.expected_version
    if body.location is not None:
        data["location"] = body.location

    def respond(outcome: Outcome) -> Response:
        view = version_of(outcome)
        result = OrderStateResult(
            order_id=view.order_id,
            requested_state=body.state,
            state=view.state,
            recorded_as=outcome.kind.value,
            version=view.version,
            message=_MESSAGES.get(outcome.kind, ""),
        )
        headers = {"Location": order_iri(view.order_id), "ETag": etag(view.version)}
        return json_response(result, 201, headers)

    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=body.order_id,
        type_name="order.state_changed",
        data=data,
        expected_version=expected_version,
        respond=respond,
    )


@router.get("/v2/orders/{order_id}/states", response_model=list[StateOut])
async def list_states(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    """The order's `states_history`, in the order orderstate recorded it."""
    view = await order_or_404(ctx, shop_id, order_id)
    return json_response(order_out(view).states_history, headers={"ETag": etag(view.version)})
