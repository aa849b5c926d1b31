"""/v2/orders/{order_id}/tags: key-value tags, replaced (PUT) or merged (PATCH)."""

from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from orderstate.api.compat.normalise import TAGS
from orderstate.api.compat.openapi import request_body
from orderstate.api.deps import (
    Context,
    ExpectedVersion,
    IdempotencyKey,
    OrderIdPath,
    ShopId,
    etag,
)
from orderstate.api.requests import TagsBody
from orderstate.api.routes._common import PROBLEMS, apply_change, order_or_404, version_of
from orderstate.api.routes.body import compat_body
from orderstate.projector.apply import Outcome

__all__ = ["router"]

router = APIRouter(prefix="/v2/orders/{order_id}/tags", tags=["tags"], responses=PROBLEMS)


def _tags_response(outcome: Outcome) -> Response:
    view = version_of(outcome)
    return JSONResponse(view.tags, headers={"ETag": etag(view.version)})


@router.get("", response_model=dict[str, str])
async def get_tags(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    view = await order_or_404(ctx, shop_id, order_id)
    return JSONResponse(view.tags, headers={"ETag": etag(view.version)})


@router.put("", response_model=dict[str, str], openapi_extra=request_body(TagsBody))
async def replace_tags(
    order_id: OrderIdPath,
    body: Annotated[TagsBody, compat_body(TAGS)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Replace all tags with these."""
    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=order_id,
        type_name="order.tags_set",
        data={"order_tags": body.order_tags, "merge": False},
        expected_version=expected_version,
        respond=_tags_response,
    )


@router.patch("", response_model=dict[str, str], openapi_extra=request_body(TagsBody))
async def merge_tags(
    order_id: OrderIdPath,
    body: Annotated[TagsBody, compat_body(TAGS)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add these tags, overwriting the same keys; other tags stay."""
    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=order_id,
        type_name="order.tags_set",
        data={"order_tags": body.order_tags, "merge": True},
        expected_version=expected_version,
        respond=_tags_response,
    )
