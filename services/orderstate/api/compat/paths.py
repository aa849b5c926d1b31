"""Paths as Seven Senders clients spell them, and references with '/' in them.

- ``/v2/order_states`` (the WooCommerce plugin) is ``/v2/order-states``.
- ``.json`` at the end of a documented path (the 2017 documentation: ``/v2/orders.json``,
  ``/v2/orders/{id}.json``, ``/v2/order-states.json``, ``/v2/shipments.json``,
  ``/v2/shipments/{id}.json``, ``/v2/carriers.json``) is dropped. An order whose id itself
  ends in ``.json`` is therefore read as ``/v2/orders/{id}.json.json``.
- A reference may hold ``/`` (``WEB-1001/2``), sent percent-encoded as ``%2F``. Servers hand
  the application a decoded path, where that ``/`` would split the segment; so the route path
  is decoded from the raw path here with ``%2F`` and ``%25`` left encoded, and the path
  parameter dependencies (``api/deps.py``) decode those two.
"""

import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["JSON_SUFFIX_PATHS", "CompatPaths", "decode_segment"]

_KEPT_ENCODED = re.compile(r"(%2[Ff]|%25)")
_JSON_SUFFIX = re.compile(
    r"^(/v2/(?:orders(?:/[^/]+)?|order[-_]states|shipments(?:/[^/]+)?|carriers))\.json$"
)
_ALIASES = {"/v2/order_states": "/v2/order-states"}
# The OpenAPI paths the suffix applies to (api/compat/openapi.py documents each alias).
JSON_SUFFIX_PATHS = (
    "/v2/orders",
    "/v2/orders/{order_id}",
    "/v2/order-states",
    "/v2/shipments",
    "/v2/shipments/{shipment_id}",
    "/v2/carriers",
)


def route_path(raw_path: bytes | None, decoded: str) -> str:
    if raw_path:
        try:
            text = raw_path.decode("ascii")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            parts = _KEPT_ENCODED.split(text)
            decoded = "".join(
                part.upper() if i % 2 else unquote(part, errors="replace")
                for i, part in enumerate(parts)
            )
    suffixed = _JSON_SUFFIX.match(decoded)
    if suffixed:
        decoded = suffixed[1]
    return _ALIASES.get(decoded, decoded)


def decode_segment(value: str) -> str:
    """A path parameter as the client meant it: ``%2F`` is '/', ``%25`` is '%'."""
    return _KEPT_ENCODED.sub(lambda m: "%" if m[0] == "%25" else "/", value)


class CompatPaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v2/"):
            path = route_path(scope.get("raw_path"), scope["path"])
            if path != scope["path"]:
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)
