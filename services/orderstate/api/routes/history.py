"""Time and history: an order as of a moment (``as_of`` on GET /v2/orders/{order_id}), an
order's events (GET /v2/orders/{order_id}/events) and the shop's changes feed
(GET /v2/changes). All three read the order event log (api/history.py, api/changes.py)."""

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from orderstate.api import alert_reads, changes, history
from orderstate.api.context import ApiContext
from orderstate.api.deps import Context, OrderIdPath, ShopId, etag
from orderstate.api.problems import ApiCode, ProblemError
from orderstate.api.representation import order_read_out
from orderstate.api.routes._common import (
    DEEP_OFFSET,
    PROBLEMS,
    json_response,
    link_header,
    not_found,
)
from orderstate.domain import ReasonCode
from orderstate.events.fields import Timestamp

__all__ = ["AS_OF_DESCRIPTION", "order_as_of_response", "router"]

router = APIRouter(tags=["history"], responses=PROBLEMS)

AS_OF_DESCRIPTION = (
    "An RFC 3339 time with an offset (2026-11-27T10:00:00Z; a '+' offset percent-encoded as "
    "%2B): the order exactly as orderstate knew it then, by recorded time (when orderstate "
    "recorded each change), not by the `datetime` of its states, with the monitor's alerts "
    "open then. 404 `not_yet_created` before the order was created, `order_deleted` while "
    "it was deleted."
)
# The longest a GET /v2/changes may wait for a change.
MAX_WAIT_S = 30
# While a request waits, the feed is read again this often. A short poll rather than LISTEN:
# a row becomes servable when the oldest running transaction ends, which sends no notification
# of its own, so a poll is needed anyway; it holds no connection between reads (LISTEN holds
# one per process) and works through PgBouncer in transaction mode, where LISTEN does not.
# Each read is one index range scan of the shop's newest rows.
POLL_S = 0.2

_MOMENT: TypeAdapter[datetime] = TypeAdapter(Timestamp)


class LoggedEvent(BaseModel):
    order_id: str
    sequence: int = Field(description="The event's number among the order's events: 1, 2, 3...")
    type: str = Field(description="The event type, e.g. order.state_changed.")
    recorded_at: datetime = Field(
        description="When orderstate recorded the change (the database's clock at its commit)."
    )
    event: dict[str, Any] = Field(
        description="The CloudEvent as published on orderstate.order-events.v1, with the "
        "order's snapshot after the change in data.order."
    )


class ChangesPage(BaseModel):
    changes: list[LoggedEvent] = Field(description="In commit order; each order's in sequence.")
    next: str = Field(
        description="Opaque cursor: pass it as `after` for the changes after these (the same "
        "cursor as given when there were none)."
    )


def _logged(row: history.LoggedRow) -> dict[str, Any]:
    return LoggedEvent(
        order_id=row.order_id,
        sequence=row.sequence,
        type=row.type,
        recorded_at=row.recorded_at,
        event=row.event,
    ).model_dump(mode="json")


def _moment(text: str) -> datetime:
    # A '+' left unencoded in a query string arrives as a space.
    text = text.strip()
    if len(text) > 6 and text[-6] == " ":
        text = f"{text[:-6]}+{text[-5:]}"
    try:
        return _MOMENT.validate_python(text)
    except ValidationError as exc:
        message = exc.errors(include_url=False)[0]["msg"]
        raise ProblemError(
            ReasonCode.MALFORMED,
            f"query.as_of: {message}; give an RFC 3339 time with an offset, "
            "e.g. 2026-11-27T10:00:00Z",
            errors=[{"field": "query.as_of", "message": message}],
        ) from None


async def order_as_of_response(
    ctx: ApiContext, shop_id: str, order_id: str, as_of: str
) -> Response:
    """GET /v2/orders/{order_id}?as_of=...: the order as known at that recorded time."""
    moment = _moment(as_of)
    async with ctx.pool.acquire() as conn:
        found = await history.order_as_of(conn, shop_id, order_id, moment)
        if isinstance(found, history.AsOf):
            alerts = await alert_reads.alerts_open_at(conn, shop_id, order_id, moment)
            body = order_read_out(found.view, alerts)
            return json_response(body, headers={"ETag": etag(found.view.version)})
    reason, sequence = found
    at = moment.isoformat()
    if reason is history.Missing.NOT_YET_CREATED:
        raise ProblemError(ApiCode.NOT_YET_CREATED, f"order {order_id!r} was created after {at}")
    if reason is history.Missing.DELETED:
        raise ProblemError(
            ApiCode.ORDER_DELETED, f"order {order_id!r} was deleted at {at} (event {sequence})"
        )
    if reason is history.Missing.NOT_KEPT:
        raise ProblemError(
            ApiCode.HISTORY_NOT_KEPT,
            f"the event log of order {order_id!r} starts after {at}, with event {sequence}",
        )
    raise not_found(order_id)


@router.get("/v2/orders/{order_id}/events", response_model=list[LoggedEvent])
async def get_order_events(
    order_id: OrderIdPath,
    request: Request,
    ctx: Context,
    shop_id: ShopId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=DEEP_OFFSET)] = 0,
) -> Response:
    """Every outbound event of the order in sequence, with its recorded time: the order's
    kept change log. A bare array with `X-Total-Count` and a `Link` header, like the lists."""
    async with ctx.pool.acquire() as conn:
        rows, total = await history.order_events(
            conn, shop_id, order_id, limit=limit, offset=offset
        )
        if total == 0 and not await history.order_known(conn, shop_id, order_id):
            raise not_found(order_id)
    headers = {
        "X-Total-Count": str(total),
        "Link": link_header(request, total, limit, offset, max_offset=DEEP_OFFSET),
    }
    return JSONResponse([_logged(r) for r in rows], headers=headers)


@router.get("/v2/changes", response_model=ChangesPage)
async def get_changes(
    ctx: Context,
    shop_id: ShopId,
    after: Annotated[
        str | None,
        Query(description="The `next` cursor of the previous page; none: from the start."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description="Seconds to wait for a change when there is none yet (long poll); "
            "the answer comes as soon as one commits.",
        ),
    ] = 0,
) -> Response:
    """The shop's order events in commit order, from a cursor: every change once, each
    order's in sequence, none skipped. The same cursor gives the same next page, also after
    restarts. With `wait`, an empty page waits up to that many seconds for a change."""
    try:
        cursor = changes.START if after is None else changes.Cursor.decode(after)
    except changes.CursorError as exc:
        raise ProblemError(ApiCode.INVALID_CURSOR, f"after: {exc}") from None
    deadline = time.monotonic() + wait
    while True:
        async with ctx.pool.acquire() as conn:
            rows, following = await changes.changes_after(conn, shop_id, cursor, limit)
        left = deadline - time.monotonic()
        if rows or left <= 0:
            break
        await asyncio.sleep(min(POLL_S, left))
    page = {"changes": [_logged(r) for r in rows], "next": following.encode()}
    return JSONResponse(page)
