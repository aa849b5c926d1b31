"""Shipments: created by Seven Senders clients (POST /v2/shipments) or by warehouses over
Kafka (shipment.created), read per shop (/v2/shipments) or per order."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from orderstate.api import reads, shipment_reads
from orderstate.api.compat.normalise import SHIPMENT_CREATE
from orderstate.api.compat.openapi import request_body
from orderstate.api.deps import (
    Context,
    ExpectedVersion,
    IdempotencyKey,
    OrderIdPath,
    ReferenceQuery,
    ShipmentIdPath,
    ShopId,
    etag,
    run_write,
)
from orderstate.api.problems import ApiCode, ProblemError
from orderstate.api.representation import (
    ShipmentOut,
    ShipmentResource,
    order_iri,
    order_out,
    shipment_iri,
)
from orderstate.api.requests import ShipmentCreate
from orderstate.api.routes._common import (
    MAX_OFFSET,
    PROBLEMS,
    json_response,
    link_header,
    order_or_404,
    with_expected_version,
)
from orderstate.api.routes.body import compat_body
from orderstate.api.writes import Write, apply_writes, rejection_problem
from orderstate.domain import (
    OrderView,
    ShipmentDirection,
    ShipmentStatus,
)
from orderstate.projector.apply import OutcomeKind
from orderstate.projector.connection import Conn

__all__ = ["router"]

router = APIRouter(tags=["shipments"], responses=PROBLEMS)


@router.post(
    "/v2/shipments",
    status_code=201,
    response_model=ShipmentResource,
    responses={200: {"model": ShipmentResource, "description": "The same shipment existed."}},
    openapi_extra=request_body(ShipmentCreate),
)
async def create_shipment(
    body: Annotated[ShipmentCreate, compat_body(SHIPMENT_CREATE)],
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Link a shipment to an order of the shop (Seven Senders `POST /shipments`): the same
    change as a `shipment.created` event on shop.shipments.v1, where it is also logged. The
    first outbound shipment moves the order to `shipped`. `return_parcel: true` is a return
    (except for keys with the `spryker` profile, whose module sends it on every shipment).
    An embedded `order` creates the order first, in the same transaction. The shipment id is
    `shipment_id`, else `reference_number`, else `tracking_code`. 201 with `Location`, `id`
    and `iri`; the same shipment again is 200; an order the shop does not have is 404
    `unknown_order`. With `If-Match`, the order must be at that version before the call (412
    otherwise); an embedded order that does not exist yet is created as without it. The
    recipient's and sender's data (`recipient_*`, `sender_*`) is accepted and dropped: never
    stored, logged or published."""
    order_id = body.order_reference
    writes = []
    # If-Match is a precondition on the order as the client read it, so it goes with the
    # request's first change: the embedded order if there is one, else the shipment.
    if body.order is not None:
        order = body.order.model_dump(mode="json", exclude={"order_id"}, exclude_unset=True)
        order = with_expected_version(order, expected_version)
        writes.append(Write(order_id, "order.created", order))
    shipment: dict[str, Any] = {
        "shipment_id": body.shipment_reference,
        "direction": (
            ShipmentDirection.RETURN if body.return_parcel else ShipmentDirection.OUTBOUND
        ).value,
        "status": body.status.value,
    }
    if body.carrier is not None:
        shipment["carrier"] = body.carrier
    if body.tracking_code is not None:
        shipment["tracking_code"] = body.tracking_code
    if not writes:
        shipment = with_expected_version(shipment, expected_version)
    writes.append(Write(order_id, "shipment.created", shipment))

    async def action(conn: Conn) -> Response:
        if "status" not in body.model_fields_set:
            # A shipment.created sent again with another status is that status change; a
            # client that sends none (every Seven Senders client) re-sends the shipment as it
            # stands, so a retried request cannot take a delivered parcel back to 'new'.
            current = await reads.get_order(conn, shop_id, order_id)
            existing = current.shipment(body.shipment_reference) if current else None
            if existing is not None:
                shipment["status"] = existing.status.value
        # Over REST a shipment for an order that does not exist is answered (unknown_order),
        # never parked to wait for the order as one from Kafka is (projector/apply.py).
        outcomes = await apply_writes(
            conn,
            shop_id=shop_id,
            writes=writes,
            policies=ctx.policies,
            now=ctx.clock(),
            max_event_bytes=ctx.settings.max_event_bytes,
        )
        linked = outcomes[-1]
        problem = rejection_problem(writes, outcomes)
        if problem is not None:
            raise problem
        if linked.view is None:
            raise AssertionError("an accepted shipment always has its order's view")
        resource = _resource(linked.view, body.shipment_reference)
        status = 200 if linked.kind is OutcomeKind.DUPLICATE else 201
        headers = {"Location": resource.iri, "ETag": etag(linked.view.version)}
        return json_response(resource, status, headers)

    return await run_write(request, ctx, shop_id, idempotency_key, action)


def _resource(view: OrderView, shipment_id: str) -> ShipmentResource:
    link = next(s for s in order_out(view).shipments if s.shipment_id == shipment_id)
    return ShipmentResource(
        **link.model_dump(),
        id=link.shipment_id,
        iri=shipment_iri(link.shipment_id),
        order_id=view.order_id,
        order_iri=order_iri(view.order_id),
        order_state=view.state,
    )


def _from_row(row: shipment_reads.ShipmentRow) -> ShipmentResource:
    return ShipmentResource(
        shipment_id=row.shipment_id,
        direction=row.direction,
        return_parcel=row.direction is ShipmentDirection.RETURN,
        status=row.status,
        carrier=row.carrier,
        tracking_code=row.tracking_code,
        linked_at=row.linked_at,
        status_at=row.status_at,
        id=row.shipment_id,
        iri=shipment_iri(row.shipment_id),
        order_id=row.order_id,
        order_iri=order_iri(row.order_id),
        order_state=row.order_state,
    )


@router.get("/v2/shipments", response_model=list[ShipmentResource])
async def list_shop_shipments(
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    order_id: Annotated[
        list[ReferenceQuery] | None,
        Query(alias="filters[order_id]", description="Repeatable: shipments of any of these."),
    ] = None,
    shop_order_id: Annotated[
        list[ReferenceQuery] | None,
        Query(alias="filters[shop_order_id]", description="Legacy name of filters[order_id]."),
    ] = None,
    shipment_id: Annotated[
        list[ReferenceQuery] | None, Query(alias="filters[shipment_id]", description="Repeatable.")
    ] = None,
    status: Annotated[
        list[ShipmentStatus] | None, Query(alias="filters[status]", description="Repeatable.")
    ] = None,
    return_parcel: Annotated[
        bool | None,
        Query(alias="filters[return_parcel]", description="true: returns only; false: outbound."),
    ] = None,
    order_by: Annotated[
        str,
        Query(description="linked_at; '-linked_at' sorts newest first.", pattern=r"^-?linked_at$"),
    ] = "linked_at",
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
) -> Response:
    """The shop's shipments across its orders (Seven Senders `GET /shipments`): a bare JSON
    array with `X-Total-Count` and `Link`, as the order list."""
    direction = None
    if return_parcel is not None:
        direction = ShipmentDirection.RETURN if return_parcel else ShipmentDirection.OUTBOUND
    filters = shipment_reads.ShipmentFilters(
        order_ids=[*(order_id or []), *(shop_order_id or [])],
        shipment_ids=shipment_id or [],
        statuses=status or [],
        direction=direction,
    )
    async with ctx.pool.acquire() as conn:
        rows, total = await shipment_reads.list_shipments(
            conn,
            shop_id,
            filters,
            descending=order_by.startswith("-"),
            limit=limit,
            offset=offset,
        )
    body = [_from_row(r).model_dump(mode="json") for r in rows]
    headers = {"X-Total-Count": str(total), "Link": link_header(request, total, limit, offset)}
    return JSONResponse(body, headers=headers)


@router.get("/v2/shipments/{shipment_id}", response_model=ShipmentResource)
async def get_shipment(shipment_id: ShipmentIdPath, ctx: Context, shop_id: ShopId) -> Response:
    """One shipment by its id (Seven Senders `GET /shipments/{id}`), with its order. Shipment
    ids are unique per order: when two orders of the shop share one, this is 409
    `shipment_id_ambiguous`, and `GET /v2/orders/{order_id}/shipments` reads each."""
    async with ctx.pool.acquire() as conn:
        rows = await shipment_reads.find_shipments(conn, shop_id, shipment_id)
    if not rows:
        raise ProblemError(ApiCode.NOT_FOUND, f"no shipment {shipment_id!r} in this shop")
    if len(rows) > 1:
        orders = ", ".join(repr(r.order_id) for r in rows)
        raise ProblemError(
            ApiCode.SHIPMENT_ID_AMBIGUOUS,
            f"shipment id {shipment_id!r} is linked to several orders ({orders}); read it with "
            "GET /v2/orders/{order_id}/shipments",
        )
    return json_response(_from_row(rows[0]))


@router.get("/v2/orders/{order_id}/shipments", response_model=list[ShipmentOut])
async def list_shipments(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    """Outbound and return shipments linked to the order, with their delivery status."""
    view = await order_or_404(ctx, shop_id, order_id)
    return json_response(order_out(view).shipments, headers={"ETag": etag(view.version)})
