"""What the resource modules share: reading an order or answering 404, applying one change
through the write path, and building responses."""

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Request, Response
from pydantic import BaseModel
from pydantic_core import to_json

from orderstate.api import reads
from orderstate.api.alert_reads import AlertRow
from orderstate.api.context import ApiContext
from orderstate.api.deps import etag, run_write
from orderstate.api.problems import ApiCode, Problem, ProblemError
from orderstate.api.representation import order_iri, order_out, order_read_out
from orderstate.api.writes import submit
from orderstate.domain import OrderView, ReasonCode
from orderstate.projector.apply import Outcome
from orderstate.projector.connection import Conn

__all__ = [
    "DEEP_OFFSET",
    "MAX_OFFSET",
    "PROBLEMS",
    "apply_change",
    "json_response",
    "link_header",
    "not_found",
    "order_and_alerts_or_404",
    "order_or_404",
    "order_read_response",
    "order_response",
    "version_of",
    "with_expected_version",
]

# The deepest page a list serves: OFFSET makes PostgreSQL read and drop every row before the
# page, so the cost of a page grows with its depth. Like Elasticsearch's max_result_window.
MAX_OFFSET = 10_000
# The deepest page of the alerts and of an order's events; their `Link` headers go as deep
# as they serve.
DEEP_OFFSET = 10_000_000

# Documented on every route: the problem bodies a client must expect.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": Problem,
        "description": "A query parameter the route does not take (unknown_parameter).",
    },
    401: {"model": Problem, "description": "Missing, invalid or expired credentials."},
    404: {"model": Problem, "description": "No such order for this shop."},
    409: {"model": Problem, "description": "The change was rejected; `code` says why."},
    412: {"model": Problem, "description": "If-Match named a stale version (version_conflict)."},
    413: {"model": Problem, "description": "The body is over the size limit."},
    415: {"model": Problem, "description": "A body that is not JSON."},
    422: {"model": Problem, "description": "Malformed input, or a reused Idempotency-Key."},
    429: {
        "model": Problem,
        "description": "Too many failed authentications from this client address or API key "
        "id within a minute (too_many_requests); Retry-After says when to try again.",
    },
}


def json_response(
    model: BaseModel | list[Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The model, or the list of models, as JSON: serialized straight to bytes by pydantic,
    not to a dict that json.dumps walks again (a tenth of a GET's CPU)."""
    return Response(to_json(model), status, headers=headers, media_type="application/json")


def order_response(view: OrderView, status: int = 200, *, location: bool = False) -> Response:
    headers = {"ETag": etag(view.version)}
    if location:
        headers["Location"] = order_iri(view.order_id)
    return json_response(order_out(view), status, headers)


def order_read_response(view: OrderView, alerts: list[AlertRow]) -> Response:
    """GET /v2/orders/{order_id}'s answer, whether the route or api/direct_read.py gives it."""
    return json_response(order_read_out(view, alerts), headers={"ETag": etag(view.version)})


# RFC 3986 pchar and '/', plus '%' so the client's own escapes stay as they are.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_PAGING = ("offset", "limit")


def link_header(
    request: Request, total: int, limit: int, offset: int, *, max_offset: int = MAX_OFFSET
) -> str:
    """RFC 8288 first/prev/next/last links of a list page; no link past ``max_offset``, the
    deepest offset the route serves (a list longer than that has no "last", and its "next"
    ends there)."""

    # Starlette's URL carries the decoded path: an order id with a space, '%' or '/' in it
    # would come out as another URL, and a letter outside latin-1 cannot be sent in a header
    # at all (a 500). The path as the client sent it, with any raw byte escaped, is exact.
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    url = request.url.replace(path=quote(raw_path, safe=_PATH_SAFE))
    # The text URL.include_query_params(offset=, limit=) gives (the other parameters in their
    # order, then offset and limit), with the query parsed and encoded once for all links
    # instead of once per link: 19 instead of 62 µs for a list's four links.
    kept = urlencode(
        [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k not in _PAGING]
    )
    base = url.replace(query="", fragment="")
    prefix = f"{base}?{kept}&" if kept else f"{base}?"
    # A raw '#' in the request's query makes the rest a fragment, kept at the end.
    suffix = f"#{url.fragment}" if url.fragment else ""

    def page(at: int) -> str:
        return f"{prefix}offset={at}&limit={limit}{suffix}"

    links = [f'<{page(0)}>; rel="first"']
    if offset > 0:
        links.append(f'<{page(max(offset - limit, 0))}>; rel="prev"')
    if offset + limit < total and offset + limit <= max_offset:
        links.append(f'<{page(offset + limit)}>; rel="next"')
    last = max((total - 1) // limit * limit, 0)
    if last <= max_offset:
        links.append(f'<{page(last)}>; rel="last"')
    return ", ".join(links)


def not_found(order_id: str) -> ProblemError:
    return ProblemError(ApiCode.NOT_FOUND, f"no order {order_id!r} in this shop")


async def order_or_404(ctx: ApiContext, shop_id: str, order_id: str) -> OrderView:
    return (await order_and_alerts_or_404(ctx, shop_id, order_id))[0]


async def order_and_alerts_or_404(
    ctx: ApiContext, shop_id: str, order_id: str
) -> tuple[OrderView, list[AlertRow]]:
    async with ctx.pool.acquire() as conn:
        found = await reads.get_order_and_alerts(conn, shop_id, order_id)
    if found is None:
        raise not_found(order_id)
    return found


def version_of(outcome: Outcome) -> OrderView:
    if outcome.view is None:
        raise AssertionError("an accepted change always has a view")
    return outcome.view


def with_expected_version(data: dict[str, Any], if_match: int | None) -> dict[str, Any]:
    """``data`` with the version ``If-Match`` names as its ``expected_version``. A body that
    names another version than the header is refused: which one the client meant is unknown,
    and either guess could apply a change to an order the client did not read."""
    if if_match is None:
        return data
    named = data.get("expected_version")
    if named is not None and named != if_match:
        raise ProblemError(
            ReasonCode.MALFORMED,
            f"If-Match names version {if_match} and the body's expected_version {named}; "
            "send one of them, or the same version in both",
        )
    return {**data, "expected_version": if_match}


async def apply_change(
    request: Request,
    ctx: ApiContext,
    shop_id: str,
    idempotency_key: str | None,
    *,
    order_id: str,
    type_name: str,
    data: dict[str, Any],
    expected_version: int | None = None,
    respond: Callable[[Outcome], Response],
) -> Response:
    """One change of one order through the write path, answered by ``respond``."""
    data = with_expected_version(data, expected_version)

    async def action(conn: Conn) -> Response:
        outcome = await submit(
            conn,
            shop_id=shop_id,
            order_id=order_id,
            type_name=type_name,
            data=data,
            policies=ctx.policies,
            now=ctx.clock(),
            max_event_bytes=ctx.settings.max_event_bytes,
        )
        return respond(outcome)

    return await run_write(request, ctx, shop_id, idempotency_key, action)
