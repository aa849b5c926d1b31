"""The console's pages under /ui: login and logout, the shop dashboard, the orders list and an
order's timeline. Each page reads through the REST API's read code, within the shop of the
session; another shop's order is "not found", as in the API."""

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from orderstate.api import alert_reads, reads
from orderstate.api.deps import Context, authenticate_key
from orderstate.api.problems import ProblemError, status_of
from orderstate.api.routes._common import MAX_OFFSET
from orderstate.console import figures, listing, timeline
from orderstate.console.charts import bar_chart
from orderstate.console.pages import render, session_length
from orderstate.console.session import (
    Session,
    end_session,
    from_own_page,
    safe_next,
    session_of,
    start_session,
)
from orderstate.domain import OrderState

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

# The login form has two fields; a body with many more is not the form.
_MAX_FORM_FIELDS = 8


async def _session(request: Request, ctx: Context) -> Session:
    return await session_of(request, ctx)


LoggedIn = Annotated[Session, Depends(_session)]


def _refused() -> Response:
    return render(
        "message.html",
        403,
        title="Refused",
        session=None,
        message="This form must be sent from the console's own page. Open the console and "
        "try again.",
    )


@router.get("/login")
async def login_form(
    ctx: Context, next_page: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    return render(
        "login.html",
        title="Log in",
        session=None,
        next=safe_next(next_page),
        lasts=session_length(ctx.settings.token_ttl_s),
    )


@router.post("/login")
async def login(request: Request, ctx: Context) -> Response:
    """The key is checked exactly as POST /v2/token checks it (its failure limits included),
    and exchanged for a token in the session cookie."""
    if not from_own_page(request):
        return _refused()
    try:
        form = parse_qs(
            (await request.body()).decode("utf-8", errors="replace"),
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except ValueError:
        form = {}
    plain = form.get("access_key", [""])[0].strip()
    back_to = safe_next(form.get("next", [None])[0])

    def again(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return render(
            "login.html",
            status,
            headers,
            title="Log in",
            session=None,
            next=back_to,
            error=message,
            lasts=session_length(ctx.settings.token_ttl_s),
        )

    if not plain:
        return again(422, "Enter an API key.")
    try:
        found = await authenticate_key(request, ctx, plain)
    except ProblemError as exc:
        # Over the failure limits of POST /v2/token: 429 with Retry-After.
        return again(status_of(exc.code), exc.detail, exc.headers)
    if found is None:
        return again(401, "That is not an active API key.")
    response = RedirectResponse(back_to, status_code=303)
    start_session(response, request, ctx, found)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    if not from_own_page(request):
        return _refused()
    response = RedirectResponse("/ui/login", status_code=303)
    end_session(response, request)
    return response


@router.get("/")
async def dashboard(ctx: Context, session: LoggedIn) -> Response:
    async with ctx.pool.acquire() as conn:
        board = await figures.dashboard(conn, session.shop_id, ctx.clock())
    changes = bar_chart([(f"{h.hour:%H}", h.count) for h in board.changes_per_hour])
    return render(
        "dashboard.html",
        title="Dashboard",
        session=session,
        board=board,
        changes=changes,
        hours=board.changes_per_hour,
    )


@router.get("/orders")
async def orders(
    ctx: Context,
    session: LoggedIn,
    state: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[str, Query(max_length=330)] = "",
    order_date_from: Annotated[str, Query(max_length=10)] = "",
    order_date_to: Annotated[str, Query(max_length=10)] = "",
    updated_from: Annotated[str, Query(max_length=10)] = "",
    updated_to: Annotated[str, Query(max_length=10)] = "",
    boarding: Annotated[str, Query(max_length=3)] = "",
    alerts: Annotated[str, Query(max_length=4)] = "",
    order_by: Annotated[str, Query(max_length=12)] = "",
    page: Annotated[str, Query(max_length=10)] = "1",
) -> Response:
    form = listing.read_form(
        states=state or [],
        tag=tag,
        order_date_from=order_date_from,
        order_date_to=order_date_to,
        updated_from=updated_from,
        updated_to=updated_to,
        boarding=boarding,
        alerts=alerts,
        order_by=order_by,
        page=page,
        max_offset=MAX_OFFSET,
    )
    async with ctx.pool.acquire() as conn:
        views, total = await reads.list_orders(
            conn,
            session.shop_id,
            form.filters(),
            sort=form.sort,
            descending=form.descending,
            limit=listing.PAGE_SIZE,
            offset=form.offset,
        )
        alerts_of = await alert_reads.open_alerts_of(
            conn, session.shop_id, [v.order_id for v in views]
        )
    last_page = max((total.count - 1) // listing.PAGE_SIZE + 1, 1)
    return render(
        "orders.html",
        title="Orders",
        session=session,
        form=form,
        views=views,
        alerts=alerts_of,
        total=total.count,
        total_estimated=total.estimated,
        last_page=min(last_page, MAX_OFFSET // listing.PAGE_SIZE + 1),
        states=list(OrderState),
        sorts=listing.SORTS,
    )


@router.get("/orders/{order_id:path}")
async def order(order_id: str, ctx: Context, session: LoggedIn) -> Response:
    async with ctx.pool.acquire() as conn:
        story = await timeline.order_story(conn, session.shop_id, order_id)
    if story is None:
        return render(
            "message.html",
            404,
            title="Order not found",
            session=session,
            message=f"This shop has no order {order_id!r}.",
        )
    return render("order.html", title=f"Order {order_id}", session=session, story=story)
