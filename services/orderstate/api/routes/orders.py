"""/v2/orders: create, list, read, update, delete."""

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import StringConstraints

from orderstate.api import alert_reads, reads
from orderstate.api.compat.normalise import ORDER_CREATE, ORDER_UPDATE
from orderstate.api.compat.openapi import request_body
from orderstate.api.compat.reading import reading_for
from orderstate.api.deps import (
    Caller,
    Context,
    ExpectedVersion,
    IdempotencyKey,
    OrderIdPath,
    ReferenceQuery,
    ShopId,
)
from orderstate.api.representation import OrderOut, OrderReadOut, order_read_out
from orderstate.api.requests import OrderCreate
from orderstate.api.routes._common import (
    MAX_OFFSET,
    PROBLEMS,
    apply_change,
    json_response,
    link_header,
    order_and_alerts_or_404,
    order_read_response,
    order_response,
    version_of,
)
from orderstate.api.routes.body import compat_body
from orderstate.api.routes.history import AS_OF_DESCRIPTION, order_as_of_response
from orderstate.domain import OrderState
from orderstate.events.fields import QueryTime
from orderstate.events.inbound import OrderUpdatedData
from orderstate.projector.apply import Outcome, OutcomeKind

__all__ = ["router"]

TagFilter = Annotated[str, StringConstraints(pattern=r"^[^:\x00]{1,64}:[^\x00]{0,256}$")]

router = APIRouter(prefix="/v2/orders", tags=["orders"], responses=PROBLEMS)


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    responses={200: {"model": OrderOut, "description": "The same order existed already."}},
    openapi_extra=request_body(OrderCreate),
)
async def create_order(
    body: Annotated[OrderCreate, compat_body(ORDER_CREATE)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create an order (Seven Senders `POST /orders`). 201 with `Location`, `id` and `iri`; the
    same order id with the same content returns the existing order (200); other content is
    409 `order_exists`. With `If-Match`, an order that exists must be at that version (412
    otherwise), as for an `order.created` event with `expected_version`. Seven Senders'
    request shapes are read as README "Coming from Seven Senders" lists (legacy
    `shop_order_*` names, `de_DE`, naive datetimes in the key's zone, empty `order_url`,
    unknown fields named in `X-Orderstate-Ignored-Fields`)."""

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
        expected_version=expected_version,
        respond=respond,
    )


@router.get("", response_model=list[OrderReadOut])
async def list_orders(
    request: Request,
    ctx: Context,
    caller: Caller,
    state: Annotated[
        list[OrderState] | None, Query(alias="filters[state]", description="Repeatable: any of.")
    ] = None,
    order_id: Annotated[
        list[ReferenceQuery] | None,
        Query(alias="filters[order_id]", description="Repeatable: any of these references."),
    ] = None,
    shop_order_id: Annotated[
        list[ReferenceQuery] | None,
        Query(alias="filters[shop_order_id]", description="Legacy name of filters[order_id]."),
    ] = None,
    order_date_from: Annotated[QueryTime | None, Query(alias="filters[order_date_from]")] = None,
    order_date_to: Annotated[QueryTime | None, Query(alias="filters[order_date_to]")] = None,
    updated_at_from: Annotated[QueryTime | None, Query(alias="filters[updated_at_from]")] = None,
    updated_at_to: Annotated[QueryTime | None, Query(alias="filters[updated_at_to]")] = None,
    boarding_complete: Annotated[bool | None, Query(alias="filters[boarding_complete]")] = None,
    tag: Annotated[
        list[TagFilter] | None,
        Query(alias="filters[tag]", description="key:value, repeatable: every tag must match."),
    ] = None,
    language: Annotated[
        str | None, Query(alias="filters[language]", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    ] = None,
    plain_order_id: Annotated[
        list[ReferenceQuery] | None,
        Query(alias="order_id", description="Same as filters[order_id] (Seven Senders)."),
    ] = None,
    plain_shop_order_id: Annotated[
        list[ReferenceQuery] | None,
        Query(alias="shop_order_id", description="Same as filters[order_id] (2017 docs)."),
    ] = None,
    plain_state: Annotated[
        list[OrderState] | None,
        Query(alias="state", description="Same as filters[state] (WooCommerce plugin)."),
    ] = None,
    order_date_after: Annotated[
        QueryTime | None,
        Query(alias="order_date[after]", description="Same as filters[order_date_from]."),
    ] = None,
    order_date_before: Annotated[
        QueryTime | None,
        Query(alias="order_date[before]", description="Same as filters[order_date_to]."),
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
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_OFFSET,
            description=f"At most {MAX_OFFSET}: deeper pages cost the database more the deeper "
            "they are; narrow the filters (e.g. a date range) to reach older entries.",
        ),
    ] = 0,
    total: Annotated[
        Literal["estimated", "exact"],
        Query(
            description="`exact` counts every matching order for `X-Total-Count`. By default "
            "a list whose count the database expects to be costly (many orders, or a tag "
            "filter, whose matches are each checked in the table) gets the planner's estimate "
            "instead (`X-Total-Count-Estimated: true`), unless its page is its last.",
        ),
    ] = "estimated",
) -> Response:
    """List the shop's orders, each with its open alerts: a bare JSON array, `X-Total-Count`,
    `X-Total-Count-Estimated`, and an RFC 8288 `Link` header with first/prev/next/last. Date
    ranges are inclusive; a date without an offset is read in the API key's time zone. A query
    parameter this list does not take is 400 `unknown_parameter`, naming it."""
    zone = reading_for(caller.reading, ctx.settings).zone
    tags: dict[str, str] = {}
    tags_contradict = False
    for key, value in (t.split(":", 1) for t in tag or []):
        tags_contradict |= tags.setdefault(key, value) != value
    filters = reads.OrderFilters(
        states=[*(state or []), *(plain_state or [])],
        order_ids=[
            *(order_id or []),
            *(shop_order_id or []),
            *(plain_order_id or []),
            *(plain_shop_order_id or []),
        ],
        # Both spellings given: both bounds apply.
        order_date_from=_bound(max, order_date_from, order_date_after, zone),
        order_date_to=_bound(min, order_date_to, order_date_before, zone),
        updated_at_from=_aware(updated_at_from, zone),
        updated_at_to=_aware(updated_at_to, zone),
        boarding_complete=boarding_complete,
        tags=tags,
        tags_contradict=tags_contradict,
        language=language,
    )
    async with ctx.pool.acquire() as conn:
        views, counted = await reads.list_orders(
            conn,
            caller.shop_id,
            filters,
            sort=reads.SortField(order_by.lstrip("-")),
            descending=order_by.startswith("-"),
            limit=limit,
            offset=offset,
            exact_total=total == "exact",
        )
        alerts = await alert_reads.open_alerts_of(conn, caller.shop_id, [v.order_id for v in views])
    body = [order_read_out(v, alerts.get(v.order_id, [])) for v in views]
    headers = {
        "X-Total-Count": str(counted.count),
        "X-Total-Count-Estimated": "true" if counted.estimated else "false",
        "Link": link_header(request, counted.count, limit, offset),
    }
    return json_response(body, headers=headers)


def _aware(value: datetime | None, zone: tzinfo) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=zone)


def _bound(
    pick: Callable[[list[datetime]], datetime],
    first: datetime | None,
    second: datetime | None,
    zone: tzinfo,
) -> datetime | None:
    given = [d for d in (_aware(first, zone), _aware(second, zone)) if d is not None]
    return pick(given) if given else None


@router.get("/{order_id}", response_model=OrderReadOut)
async def get_order(
    order_id: OrderIdPath,
    ctx: Context,
    shop_id: ShopId,
    as_of: Annotated[str | None, Query(description=AS_OF_DESCRIPTION)] = None,
) -> Response:
    """One order with items, tags, `states_history`, shipments, version and the monitor's open
    alerts; `ETag` is the version. Another shop's order is 404, like a missing one. With
    `as_of`, the order as orderstate knew it at that time."""
    if as_of is not None:
        return await order_as_of_response(ctx, shop_id, order_id, as_of)
    view, alerts = await order_and_alerts_or_404(ctx, shop_id, order_id)
    return order_read_response(view, alerts)


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


@router.patch("/{order_id}", response_model=OrderOut, openapi_extra=request_body(OrderUpdatedData))
async def patch_order(
    order_id: OrderIdPath,
    body: Annotated[OrderUpdatedData, compat_body(ORDER_UPDATE)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change the fields given (null clears an optional field). `If-Match` makes it
    conditional on the version read."""
    return await _update(request, ctx, shop_id, idempotency_key, order_id, body, expected_version)


@router.put("/{order_id}", response_model=OrderOut, openapi_extra=request_body(OrderUpdatedData))
async def put_order(
    order_id: OrderIdPath,
    body: Annotated[OrderUpdatedData, compat_body(ORDER_UPDATE)],
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
