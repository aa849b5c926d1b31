"""/v2/orders/{order_id}/items: an order's items, each with its own status."""

from typing import Any

from fastapi import APIRouter, Request, Response

from orderstate.api import reads
from orderstate.api.deps import (
    Context,
    ExpectedVersion,
    IdempotencyKey,
    ItemIdPath,
    OrderIdPath,
    ShopId,
    etag,
    run_write,
)
from orderstate.api.problems import ApiCode, ProblemError
from orderstate.api.representation import ItemOut, order_out
from orderstate.api.routes._responses import PROBLEMS, json_response
from orderstate.api.routes.orders import not_found
from orderstate.api.writes import current_view, submit
from orderstate.domain import OrderView
from orderstate.events.inbound import ItemAddedData, ItemChanges
from orderstate.projector.connection import Conn

__all__ = ["router"]

router = APIRouter(prefix="/v2/orders/{order_id}/items", tags=["items"], responses=PROBLEMS)


def _item(view: OrderView, item_id: str) -> ItemOut:
    for item in order_out(view).items:
        if item.item_id == item_id:
            return item
    raise ProblemError(ApiCode.NOT_FOUND, f"order {view.order_id!r} has no item {item_id!r}")


@router.get("", response_model=list[ItemOut])
async def list_items(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    async with ctx.pool.acquire() as conn:
        view = await reads.get_order(conn, shop_id, order_id)
    if view is None:
        raise not_found(order_id)
    return json_response(order_out(view).items, headers={"ETag": etag(view.version)})


@router.get("/{item_id}", response_model=ItemOut)
async def get_item(
    order_id: OrderIdPath, item_id: ItemIdPath, ctx: Context, shop_id: ShopId
) -> Response:
    async with ctx.pool.acquire() as conn:
        view = await reads.get_order(conn, shop_id, order_id)
    if view is None:
        raise not_found(order_id)
    return json_response(_item(view, item_id), headers={"ETag": etag(view.version)})


async def _write(
    request: Request,
    ctx: Context,
    shop_id: str,
    order_id: OrderIdPath,
    type_name: str,
    data: dict[str, Any],
    idempotency_key: str | None,
    respond: Any,
) -> Response:
    async def action(conn: Conn) -> Response:
        outcome = await submit(
            conn,
            shop_id=shop_id,
            order_id=order_id,
            type_name=type_name,
            data=data,
            policies=ctx.policies,
            now=ctx.clock(),
        )
        response: Response = respond(current_view(outcome))
        return response

    return await run_write(request, ctx, shop_id, idempotency_key, action)


def _with_version(data: dict[str, Any], expected_version: int | None) -> dict[str, Any]:
    return data if expected_version is None else {**data, "expected_version": expected_version}


@router.post("", status_code=201, response_model=ItemOut)
async def add_item(
    order_id: OrderIdPath,
    body: ItemAddedData,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add an item (201 with `Location`); an existing item id with other content is 409
    `item_exists`."""
    data = _with_version(body.model_dump(mode="json", exclude_unset=True), expected_version)
    return await _write(
        request,
        ctx,
        shop_id,
        order_id,
        "order.item_added",
        data,
        idempotency_key,
        lambda view: json_response(
            _item(view, body.item_id),
            201,
            {
                "Location": f"/v2/orders/{order_id}/items/{body.item_id}",
                "ETag": etag(view.version),
            },
        ),
    )


async def _update(
    order_id: OrderIdPath,
    item_id: ItemIdPath,
    body: ItemChanges,
    request: Request,
    ctx: Context,
    shop_id: str,
    expected_version: int | None,
    idempotency_key: str | None,
) -> Response:
    data = _with_version(
        {**body.model_dump(mode="json", exclude_unset=True), "item_id": item_id}, expected_version
    )
    return await _write(
        request,
        ctx,
        shop_id,
        order_id,
        "order.item_updated",
        data,
        idempotency_key,
        lambda view: json_response(_item(view, item_id), headers={"ETag": etag(view.version)}),
    )


@router.patch("/{item_id}", response_model=ItemOut)
async def patch_item(
    order_id: OrderIdPath,
    item_id: ItemIdPath,
    body: ItemChanges,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change the fields given, e.g. `{"status": "returned"}`."""
    return await _update(
        order_id, item_id, body, request, ctx, shop_id, expected_version, idempotency_key
    )


@router.put("/{item_id}", response_model=ItemOut)
async def put_item(
    order_id: OrderIdPath,
    item_id: ItemIdPath,
    body: ItemChanges,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Seven Senders' `putOrderItemItem`: like PATCH, the fields given change."""
    return await _update(
        order_id, item_id, body, request, ctx, shop_id, expected_version, idempotency_key
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
    data = _with_version({"item_id": item_id}, expected_version)
    return await _write(
        request,
        ctx,
        shop_id,
        order_id,
        "order.item_removed",
        data,
        idempotency_key,
        lambda _view: Response(status_code=204),
    )
