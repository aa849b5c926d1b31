"""Fields a request carried that orderstate did not use: counted, and named in the response.

The names travel in ``X-Orderstate-Ignored-Fields`` (comma-separated paths such as
``recipient_email`` or ``carrier.country``, percent-encoded so any JSON key fits a header),
on the answer to the request that carried them, whatever that answer is.
"""

from urllib.parse import quote

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderstate.metrics import IGNORED_FIELDS

__all__ = ["HEADER", "IgnoredFieldsHeader", "note_ignored"]

HEADER = "X-Orderstate-Ignored-Fields"
_STATE_KEY = "ignored_fields"
# A header is no place for an unbounded list; the count of the rest still says there were more.
_MAX_NAMED = 50


def note_ignored(request: Request, ignored: list[str], labels: dict[str, str]) -> None:
    """``labels`` gives each field the bounded name it is counted under: the metric must not
    grow a series per unknown field name a client invents; the header names them all."""
    if not ignored:
        return
    setattr(request.state, _STATE_KEY, ignored)
    route = getattr(request.scope.get("route"), "path", "other")
    for name in ignored:
        IGNORED_FIELDS.labels(route, labels.get(name, "(unknown)")).inc()


def header_value(ignored: list[str]) -> str:
    names = [quote(name, safe=".", errors="replace") for name in ignored[:_MAX_NAMED]]
    if len(ignored) > _MAX_NAMED:
        names.append(f"(+{len(ignored) - _MAX_NAMED} more)")
    return ", ".join(names)


class IgnoredFieldsHeader:
    """Adds the header to whatever answered the request: a 2xx, a problem, a replay."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                ignored = scope.get("state", {}).get(_STATE_KEY)
                if ignored:
                    headers = [*message.get("headers", [])]
                    headers.append((HEADER.lower().encode(), header_value(ignored).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)
