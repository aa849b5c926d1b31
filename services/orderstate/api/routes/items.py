"""/v2/orders/{order_id}/items: an order's items, each with its own status."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Request, Response

from orderstate.api.compat.normalise import ITEM_ADD, ITEM_CHANGE
from orderstate.api.compat.openapi import request_body
from orderstate.api.deps import (
    Context,
    ExpectedVersion,
    IdempotencyKey,
    ItemIdPath,
    OrderIdPath,
    ShopId,
    etag,
)
from orderstate.api.problems import ApiCode, ProblemError
from orderstate.api.representation import ItemOut, item_iri, order_out
from orderstate.api.routes._common import (
    PROBLEMS,
    apply_change,
    json_response,
    order_or_404,
    version_of,
)
from orderstate.api.routes.body import compat_body
from orderstate.domain import OrderView
from orderstate.events.inbound import ItemAddedData, ItemChanges
from orderstate.projector.apply import Outcome, OutcomeKind

__all__ = ["router"]

router = APIRouter(prefix="/v2/orders/{order_id}/items", tags=["items"], responses=PROBLEMS)


def _item(view: OrderView, item_id: str) -> ItemOut:
    for item in order_out(view).items:
        if item.item_id == item_id:
            return item
    raise ProblemError(ApiCode.NOT_FOUND, f"order {view.order_id!r} has no item {item_id!r}")


def _item_response(item_id: str, *, adds: bool = False) -> Callable[[Outcome], Response]:
    def respond(outcome: Outcome) -> Response:
        view = version_of(outcome)
        headers = {"ETag": etag(view.version)}
        status = 200
        if adds:
            # As for orders and shipments: 201 only when this request added the item.
            status = 200 if outcome.kind is OutcomeKind.DUPLICATE else 201
            headers["Location"] = item_iri(view.order_id, item_id)
        return json_response(_item(view, item_id), status, headers)

    return respond


@router.get("", response_model=list[ItemOut])
async def list_items(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    view = await order_or_404(ctx, shop_id, order_id)
    return json_response(order_out(view).items, headers={"ETag": etag(view.version)})


@router.get("/{item_id}", response_model=ItemOut)
async def get_item(
    order_id: OrderIdPath, item_id: ItemIdPath, ctx: Context, shop_id: ShopId
) -> Response:
    view = await order_or_404(ctx, shop_id, order_id)
    return json_response(_item(view, item_id), headers={"ETag": etag(view.version)})


@router.post(
    "",
    status_code=201,
    response_model=ItemOut,
    responses={200: {"model": ItemOut, "description": "The same item existed."}},
    openapi_extra=request_body(ItemAddedData),
)
async def add_item(
    order_id: OrderIdPath,
    body: Annotated[ItemAddedData, compat_body(ITEM_ADD)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add an item (201 with `Location`); the same item again is 200, an existing item id
    with other content is 409 `item_exists`."""
    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=order_id,
        type_name="order.item_added",
        data=body.model_dump(mode="json", exclude_unset=True),
        expected_version=expected_version,
        respond=_item_response(body.item_id, adds=True),
    )


async def _update(
    request: Request,
    ctx: Context,
    shop_id: str,
    idempotency_key: str | None,
    order_id: str,
    item_id: str,
    body: ItemChanges,
    expected_version: int | None,
) -> Response:
    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=order_id,
        type_name="order.item_updated",
        data={**body.model_dump(mode="json", exclude_unset=True), "item_id": item_id},
        expected_version=expected_version,
        respond=_item_response(item_id),
    )


@router.patch("/{item_id}", response_model=ItemOut, openapi_extra=request_body(ItemChanges))
async def patch_item(
    order_id: OrderIdPath,
    item_id: ItemIdPath,
    body: Annotated[ItemChanges, compat_body(ITEM_CHANGE)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change the fields given, e.g. `{"status": "returned"}`."""
    return await _update(
        request, ctx, shop_id, idempotency_key, order_id, item_id, body, expected_version
    )


@router.put("/{item_id}", response_model=ItemOut, openapi_extra=request_body(ItemChanges))
async def put_item(
    order_id: OrderIdPath,
    item_id: ItemIdPath,
    body: Annotated[ItemChanges, compat_body(ITEM_CHANGE)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Seven Senders' `putOrderItemItem`: like PATCH, the fields given change."""
    return await _update(
        request, ctx, shop_id, idempotency_key, order_id, item_id, body, expected_version
    )


@router.delete("/{item_id}", status_code=204, response_class=Response)
async def remove_item(
    order_id: OrderIdPath,
    item_id: ItemIdPath,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=order_id,
        type_name="order.item_removed",
        data={"item_id": item_id},
        expected_version=expected_version,
        respond=lambda _outcome: Response(status_code=204),
    )
