"""One access-log line and the request metrics of every REST request, under a request id.

The request id is the caller's ``X-Request-ID`` when it looks like an id (so a gateway's or a
client's id follows the request through), a new one otherwise; it is bound to every log line
written while the request runs and returned in the response's ``X-Request-ID``.

The line and the metrics name the route template (``/v2/orders/{order_id}``), never the raw
path or the query string: ids and filters stay out of metric labels (bounded cardinality) and
API keys or tokens a client misplaces in a query string stay out of the log. Nothing from the
body or the headers is logged but the request id.
"""

import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderstate import metrics

__all__ = ["REQUEST_ID_HEADER", "UNMATCHED", "RequestLog", "request_id_from"]

REQUEST_ID_HEADER = "X-Request-ID"
# UUIDs, W3C trace ids, ULIDs and the like; anything else is replaced, not echoed.
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# Requests that matched no route share one label value, whatever path was asked for.
UNMATCHED = "unmatched"

log = structlog.get_logger("orderstate.api")


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if _SANE_ID.match(given):
                return given
            break
    return uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        status = 500  # an exception before the response started is answered with 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", UNMATCHED)
                method = scope["method"]
                metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
                metrics.HTTP_REQUEST_DURATION.labels(route, method, str(status)).observe(elapsed)
                log.info(
                    "request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                )
