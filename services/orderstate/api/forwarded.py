"""X-Forwarded-Proto, -Host and -For, believed only from the proxies ORDERSTATE_API_TRUSTED_PROXIES
names.

Behind an Ingress the API sees the controller's connection: plain HTTP, the controller's
address. The public scheme and host make the paging links (``Link``) right; the client's
address is what the failed-authentication limits count. Any client can send these headers,
so they count only when the connection comes from a trusted proxy. Proto and For are
uvicorn's ProxyHeadersMiddleware (the client is the nearest address in X-Forwarded-For that
is not a trusted proxy); Host is done here, as uvicorn leaves it alone.
"""

import ipaddress
import re

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from orderstate.settings import IPNetwork

__all__ = ["TrustedProxies"]

# A host name or address with an optional port: nothing that could change a URL's meaning.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


class TrustedProxies:
    def __init__(self, app: ASGIApp, *, networks: list[IPNetwork]) -> None:
        self.networks = networks
        self.app = app
        if networks:
            # uvicorn's ASGI types are stricter aliases of Starlette's; the objects are the same.
            proxied = ProxyHeadersMiddleware(app, trusted_hosts=[str(n) for n in networks])  # type: ignore[arg-type]
            self.app = proxied  # type: ignore[assignment]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.networks and self._from_proxy(scope):
            host = _forwarded_host(scope["headers"])
            if host is not None:
                scope = dict(scope)
                scope["headers"] = [
                    *((name, value) for name, value in scope["headers"] if name != b"host"),
                    (b"host", host),
                ]
        await self.app(scope, receive, send)

    def _from_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _forwarded_host(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The last X-Forwarded-Host value: the one the nearest proxy, the trusted one, set."""
    values = [value for name, value in headers if name == b"x-forwarded-host"]
    if not values:
        return None
    last = values[-1].split(b",")[-1].strip()
    return last if _HOST.match(last.decode("latin-1")) else None
