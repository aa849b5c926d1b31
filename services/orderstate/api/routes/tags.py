"""/v2/orders/{order_id}/tags: key-value tags, replaced (PUT) or merged (PATCH)."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from orderstate.api import reads
from orderstate.api.deps import (
    Context,
    ExpectedVersion,
    IdempotencyKey,
    OrderIdPath,
    ShopId,
    etag,
    run_write,
)
from orderstate.api.requests import TagsBody
from orderstate.api.routes._responses import PROBLEMS
from orderstate.api.routes.orders import not_found
from orderstate.api.writes import current_view, submit
from orderstate.projector.connection import Conn

__all__ = ["router"]

router = APIRouter(prefix="/v2/orders/{order_id}/tags", tags=["tags"], responses=PROBLEMS)


@router.get("", response_model=dict[str, str])
async def get_tags(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    async with ctx.pool.acquire() as conn:
        view = await reads.get_order(conn, shop_id, order_id)
    if view is None:
        raise not_found(order_id)
    return JSONResponse(view.tags, headers={"ETag": etag(view.version)})


async def _set(
    order_id: OrderIdPath,
    body: TagsBody,
    merge: bool,
    request: Request,
    ctx: Context,
    shop_id: str,
    expected_version: int | None,
    idempotency_key: str | None,
) -> Response:
    async def action(conn: Conn) -> Response:
        data: dict[str, object] = {"order_tags": body.order_tags, "merge": merge}
        if expected_version is not None:
            data["expected_version"] = expected_version
        outcome = await submit(
            conn,
            shop_id=shop_id,
            order_id=order_id,
            type_name="order.tags_set",
            data=data,
            policies=ctx.policies,
            now=ctx.clock(),
        )
        view = current_view(outcome)
        return JSONResponse(view.tags, headers={"ETag": etag(view.version)})

    return await run_write(request, ctx, shop_id, idempotency_key, action)


@router.put("", response_model=dict[str, str])
async def replace_tags(
    order_id: OrderIdPath,
    body: TagsBody,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Replace all tags with these."""
    return await _set(
        order_id, body, False, request, ctx, shop_id, expected_version, idempotency_key
    )


@router.patch("", response_model=dict[str, str])
async def merge_tags(
    order_id: OrderIdPath,
    body: TagsBody,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add these tags, overwriting the same keys; other tags stay."""
    return await _set(
        order_id, body, True, request, ctx, shop_id, expected_version, idempotency_key
    )
