"""GET /v2/orders/{order_id}, answered without FastAPI's routing and dependency resolution.

Reading one order is the API's most frequent request, and FastAPI spent most of its CPU
before the route ran: matching the path against every route, and resolving the route's six
dependencies (bench/results-api-profile.md). This layer sits inside every middleware of the
API (the request log, the compat paths, the credential gate, the body limit), just in front
of FastAPI's own stack, and answers the request that is plainly a successful read: a GET of
``/v2/orders/{order_id}`` without a query string, with credentials the gate found well
formed, of an order that shop has. Its answer is the route's: the same read (api/reads.py)
and the same representation (``order_read_response``). Only the round trips differ: the route
checks the key in one statement and reads the order in a second, this layer does both in one
(``reads.get_order_for_key``, ``reads.get_order_for_token``). A key that is unknown, revoked,
or not proven by the secret the request carried reads nothing in that statement.

Every other request, and every read that would not end in 200 (no credentials, a revoked or
unknown key, a malformed reference, an order the shop does not have), is passed on to
FastAPI untouched, which answers it as always: its problems, its failure counting, its
``as_of``. A miss costs the route's two statements after this layer's one; a read that meets
a database outage is answered with the API's 503 problem, as the route would answer it.
"""

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orderstate.api import reads
from orderstate.api.alert_reads import AlertRow
from orderstate.api.context import ApiContext
from orderstate.api.credential_gate import STATE_KEY, Prechecked
from orderstate.api.deps import path_reference
from orderstate.api.keys import hash_key
from orderstate.api.problems import ProblemError, database_down_response
from orderstate.api.routes._common import order_read_response
from orderstate.domain import OrderView
from orderstate.projector.connection import DATABASE_DOWN, Conn

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
                read = await self._read(conn, found, order_id)
        except DATABASE_DOWN as exc:
            return database_down_response(Request(scope), exc)
        return None if read is None else order_read_response(*read)

    async def _read(
        self, conn: Conn, found: Prechecked, order_id: str
    ) -> tuple[OrderView, list[AlertRow]] | None:
        """The order, if the credentials name an active key whose shop has it: the key check
        and the read in one statement, where the route takes one for each."""
        if found.claims is not None:
            claims = found.claims
            return await reads.get_order_for_token(
                conn, key_id=claims.key_id, shop_id=claims.shop_id, order_id=order_id
            )
        assert found.api_key is not None and found.key_id is not None  # noqa: S101 -- a token or a key
        pepper = self.context.settings.api_key_pepper.get_secret_value()
        return await reads.get_order_for_key(
            conn, key_id=found.key_id, key_hash=hash_key(found.api_key, pepper), order_id=order_id
        )


def _plain_read(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]
