"""/v2/orders: create, list, read, update, delete."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import StringConstraints

from orderstate.api import reads
from orderstate.api.deps import (
    Context,
    ExpectedVersion,
    IdempotencyKey,
    OrderIdPath,
    ShopId,
)
from orderstate.api.representation import OrderOut, order_out
from orderstate.api.requests import OrderCreate
from orderstate.api.routes._common import (
    PROBLEMS,
    apply_change,
    order_or_404,
    order_response,
    version_of,
)
from orderstate.domain import OrderState
from orderstate.events.inbound import OrderUpdatedData
from orderstate.projector.apply import Outcome, OutcomeKind

__all__ = ["router"]

TagFilter = Annotated[str, StringConstraints(pattern=r"^[^:\x00]{1,64}:[^\x00]{0,256}$")]

router = APIRouter(prefix="/v2/orders", tags=["orders"], responses=PROBLEMS)


@router.post("", status_code=201, response_model=OrderOut)
async def create_order(
    body: OrderCreate,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create an order (Seven Senders `POST /orders`). 201 with `Location`; the same order id
    with the same content returns the existing order (200); other content is 409
    `order_exists`."""

    def respond(outcome: Outcome) -> Response:
        status = 200 if outcome.kind is OutcomeKind.DUPLICATE else 201
        return order_response(version_of(outcome), status, location=True)

    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=body.order_id,
        type_name="order.created",
        data=body.model_dump(mode="json", exclude={"order_id"}, exclude_unset=True),
        respond=respond,
    )


@router.get("", response_model=list[OrderOut])
async def list_orders(
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    state: Annotated[
        list[OrderState] | None, Query(alias="filters[state]", description="Repeatable: any of.")
    ] = None,
    order_date_from: Annotated[datetime | None, Query(alias="filters[order_date_from]")] = None,
    order_date_to: Annotated[datetime | None, Query(alias="filters[order_date_to]")] = None,
    updated_at_from: Annotated[datetime | None, Query(alias="filters[updated_at_from]")] = None,
    updated_at_to: Annotated[datetime | None, Query(alias="filters[updated_at_to]")] = None,
    boarding_complete: Annotated[bool | None, Query(alias="filters[boarding_complete]")] = None,
    tag: Annotated[
        list[TagFilter] | None,
        Query(alias="filters[tag]", description="key:value, repeatable: every tag must match."),
    ] = None,
    language: Annotated[
        str | None, Query(alias="filters[language]", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    ] = None,
    order_by: Annotated[
        str,
        Query(
            description="order_date, updated_at or state (by name); a leading '-' sorts "
            "descending; order_id breaks ties.",
            pattern=r"^-?(order_date|updated_at|state)$",
        ),
    ] = "order_date",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """List the shop's orders: a bare JSON array, `X-Total-Count`, and an RFC 8288 `Link`
    header with first/prev/next/last. Date ranges are inclusive."""
    filters = reads.OrderFilters(
        states=state or [],
        order_date_from=order_date_from,
        order_date_to=order_date_to,
        updated_at_from=updated_at_from,
        updated_at_to=updated_at_to,
        boarding_complete=boarding_complete,
        tags=dict(t.split(":", 1) for t in tag or []),
        language=language,
    )
    async with ctx.pool.acquire() as conn:
        views, total = await reads.list_orders(
            conn,
            shop_id,
            filters,
            sort=reads.SortField(order_by.lstrip("-")),
            descending=order_by.startswith("-"),
            limit=limit,
            offset=offset,
        )
    body = [order_out(v).model_dump(mode="json") for v in views]
    headers = {"X-Total-Count": str(total)}
    link = _link_header(request, total, limit, offset)
    if link:
        headers["Link"] = link
    return JSONResponse(body, headers=headers)


def _link_header(request: Request, total: int, limit: int, offset: int) -> str:
    def page(at: int) -> str:
        return str(request.url.include_query_params(offset=at, limit=limit))

    links = [f'<{page(0)}>; rel="first"']
    if offset > 0:
        links.append(f'<{page(max(offset - limit, 0))}>; rel="prev"')
    if offset + limit < total:
        links.append(f'<{page(offset + limit)}>; rel="next"')
    last = max((total - 1) // limit * limit, 0)
    links.append(f'<{page(last)}>; rel="last"')
    return ", ".join(links)


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    """One order with items, tags, `states_history`, shipments and version; `ETag` is the
    version. Another shop's order is 404, like a missing one."""
    return order_response(await order_or_404(ctx, shop_id, order_id))


async def _update(
    request: Request,
    ctx: Context,
    shop_id: str,
    idempotency_key: str | None,
    order_id: str,
    body: OrderUpdatedData,
    expected_version: int | None,
) -> Response:
    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=order_id,
        type_name="order.updated",
        data=body.model_dump(mode="json", exclude_unset=True),
        expected_version=expected_version,
        respond=lambda outcome: order_response(version_of(outcome)),
    )


@router.patch("/{order_id}", response_model=OrderOut)
async def patch_order(
    order_id: OrderIdPath,
    body: OrderUpdatedData,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change the fields given (null clears an optional field). `If-Match` makes it
    conditional on the version read."""
    return await _update(request, ctx, shop_id, idempotency_key, order_id, body, expected_version)


@router.put("/{order_id}", response_model=OrderOut)
async def put_order(
    order_id: OrderIdPath,
    body: OrderUpdatedData,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Seven Senders-compatible update (`PUT /orders/{id}` with `{"boarding_complete": true}`):
    like PATCH, only the fields given change. `If-Match` is honoured, not required."""
    return await _update(request, ctx, shop_id, idempotency_key, order_id, body, expected_version)


@router.delete("/{order_id}", status_code=204, response_class=Response)
async def delete_order(
    order_id: OrderIdPath,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Delete the order. Its version continues if the same id is created again."""
    return await apply_change(
        request,
        ctx,
        shop_id,
        idempotency_key,
        order_id=order_id,
        type_name="order.deleted",
        data={},
        expected_version=expected_version,
        respond=lambda _outcome: Response(status_code=204),
    )
