"""/v2/alerts: the order monitor's alerts of the caller's shop."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from orderstate.api import alert_reads
from orderstate.api.deps import Context, ReferenceQuery, ShopId
from orderstate.api.representation import AlertOut, alert_out
from orderstate.api.routes._common import DEEP_OFFSET, PROBLEMS, link_header
from orderstate.events.alerts import RULE_PATTERN

__all__ = ["router"]

router = APIRouter(prefix="/v2/alerts", tags=["alerts"], responses=PROBLEMS)


@router.get("", response_model=list[AlertOut])
async def list_alerts(
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    rule: Annotated[
        list[Annotated[str, Query(pattern=RULE_PATTERN)]] | None,
        Query(
            alias="filters[rule]",
            description="Repeatable, any of: state_deadline.<state>, order_delayed, "
            "boarding_open, parked_too_long.",
        ),
    ] = None,
    status: Annotated[
        Literal["open", "cleared"] | None,
        Query(alias="filters[status]", description="open or cleared; both when left out."),
    ] = None,
    order_id: Annotated[
        list[ReferenceQuery] | None,
        Query(alias="filters[order_id]", description="Repeatable: alerts of any of these."),
    ] = None,
    order_by: Annotated[
        str,
        Query(
            description="raised_at or deadline; a leading '-' sorts descending (the default is "
            "the newest first); the alert id breaks ties.",
            pattern=r"^-?(raised_at|deadline)$",
        ),
    ] = "-raised_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    offset: Annotated[int, Query(ge=0, le=DEEP_OFFSET)] = 0,
) -> Response:
    """The monitor's alerts for the shop's orders, open and cleared (cleared ones are kept
    `ORDERSTATE_ALERT_RETENTION_DAYS`): a bare JSON array with `X-Total-Count` and `Link`, as
    the order list. They are written by `orderstate monitor` as it publishes them to
    `orderstate.order-alerts.v1`."""
    filters = alert_reads.AlertFilters(
        rules=rule or [],
        open=None if status is None else status == "open",
        order_ids=order_id or [],
    )
    async with ctx.pool.acquire() as conn:
        rows, total = await alert_reads.list_alerts(
            conn,
            shop_id,
            filters,
            sort=alert_reads.AlertSort(order_by.lstrip("-")),
            descending=order_by.startswith("-"),
            limit=limit,
            offset=offset,
        )
    body = [alert_out(r).model_dump(mode="json") for r in rows]
    headers = {
        "X-Total-Count": str(total),
        "Link": link_header(request, total, limit, offset, max_offset=DEEP_OFFSET),
    }
    return JSONResponse(body, headers=headers)
