"""GET /v2/orders/{order_id}, answered without FastAPI's routing and dependency resolution.

Reading one order is the API's most frequent request, and FastAPI spent most of its CPU
before the route ran: matching the path against every route, and resolving the route's six
dependencies (bench/results-api-profile.md). This layer sits inside every middleware of the
API (the request log, the compat paths, the credential gate, the body limit), just in front
of FastAPI's own stack, and answers the request that is plainly a successful read: a GET of
``/v2/orders/{order_id}`` without a query string, with credentials the gate found well
formed, of an order that shop has. It answers with the route's own functions: the same key
lookup, the same read, the same representation (``order_read_response``).

Every other request, and every read that would not end in 200 (no credentials, a revoked or
unknown key, a malformed reference, an order the shop does not have), is passed on to
FastAPI untouched, which answers it as always: its problems, its failure counting, its
``as_of``. A miss costs the two lookups again; a read that meets a database outage is
answered with the API's 503 problem, as the route would answer it.
"""

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orderstate.api import reads
from orderstate.api.context import ApiContext
from orderstate.api.credential_gate import STATE_KEY, Prechecked
from orderstate.api.deps import path_reference, principal_of
from orderstate.api.problems import ProblemError, database_down_response
from orderstate.api.routes._common import order_read_response
from orderstate.projector.connection import DATABASE_DOWN

__all__ = ["DirectOrderRead"]


class DirectOrderRead:
    def __init__(self, app: ASGIApp, *, context: ApiContext, route: APIRoute) -> None:
        """``route`` is the GET /v2/orders/{order_id} route: the request log and metrics name
        it for the reads answered here, as for those FastAPI answers."""
        self.app = app
        self.context = context
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._answer(scope) if _plain_read(scope) else None
        if response is None:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    async def _answer(self, scope: Scope) -> Response | None:
        found: Prechecked | None = scope.get("state", {}).get(STATE_KEY)
        # The route's own pattern, on the canonical path (api/compat/paths.py has rewritten
        # legacy spellings by now); the segment is still percent-encoded, as FastAPI's is.
        match = self.route.path_regex.match(scope["path"])
        if found is None or match is None:
            return None
        try:
            order_id = path_reference("order_id", match["order_id"])
        except ProblemError:
            return None
        scope["route"] = self.route
        try:
            async with self.context.pool.acquire() as conn:
                principal = await principal_of(conn, self.context, found)
                read = (
                    None
                    if principal is None
                    else await reads.get_order_and_alerts(conn, principal.shop_id, order_id)
                )
        except DATABASE_DOWN as exc:
            return database_down_response(Request(scope), exc)
        if principal is None or read is None:
            return None
        return order_read_response(*read)


def _plain_read(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]
