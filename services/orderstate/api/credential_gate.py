"""Credentials a request carries, checked before routing: what can be refused without
PostgreSQL is refused here, for the price of an HTTP exchange.

A flood of bad tokens or keys (bench/security.py) costs the api CPU that good requests then
wait for. Refused inside FastAPI, a bad request also paid for routing, dependency resolution
and the exception handlers: about half of its cost, measured with a profiler. This gate
answers it first, with the same problem (401 or 429) the dependencies give, and leaves what
it checked in the request's state so that the dependency does not check it again.

It only looks at requests that carry credentials (``Authorization`` or a non-empty
``API-KEY``) on a path that authenticates: a request without any, or to a public page, is
the routes' business (``PUBLIC_PATHS`` lists the routes that take no credentials; a test
keeps it equal to the routes).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from orderstate.api import keys
from orderstate.api.auth_limits import AuthFailureLimits
from orderstate.api.problems import ApiCode, ProblemError, problem_response
from orderstate.api.tokens import TokenClaims, TokenError, read_token

__all__ = [
    "PUBLIC_PATHS",
    "STATE_KEY",
    "CredentialGate",
    "Prechecked",
    "precheck",
    "unauthorized",
]

# Routes that take no credentials: the token exchange, the problem pages, the API's own
# documents.
PUBLIC_PATHS = ("/v2/token", "/v2/problems/", "/v2/openapi.json", "/v2/docs")

_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="orderstate"'}
# Where the gate leaves its finding, in the ASGI scope's state (Starlette's request.state).
STATE_KEY = "prechecked_credentials"


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(ApiCode.UNAUTHORIZED, detail, headers=_UNAUTHORIZED_HEADERS)


@dataclass(frozen=True, slots=True)
class Prechecked:
    """Credentials that passed every check the database is not needed for: a token we
    signed and that has not expired, or an API key of the right form under its limit."""

    claims: TokenClaims | None = None
    api_key: str | None = None
    key_id: str | None = None


async def precheck(
    *,
    authorization: str | None,
    api_key: str | None,
    address: str | None,
    limits: AuthFailureLimits,
    secret: str,
    now: datetime,
) -> Prechecked | None:
    """None when the request carries no credentials; ProblemError (401, 429) when they are
    refused without asking PostgreSQL. Refusals count towards the limits."""
    if authorization is None and not api_key:
        return None
    await limits.check(address=address)
    if authorization is not None:
        # Bad credentials are refused even when another header would have been good.
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            await limits.failed(address=address)
            raise unauthorized("Authorization must be 'Bearer <token>'")
        try:
            claims = read_token(token, secret=secret, now=now)
        except TokenError as exc:
            await limits.failed(address=address)
            raise unauthorized(str(exc)) from None
        return Prechecked(claims=claims)
    assert api_key is not None  # noqa: S101 -- the first test above returned otherwise
    key_id = keys.key_id_of(api_key)
    if key_id is None:
        await limits.failed(address=address)
        raise unauthorized("the API-KEY header names no active API key")
    await limits.check(key_id=key_id)
    return Prechecked(api_key=api_key, key_id=key_id)


class CredentialGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: AuthFailureLimits,
        secret: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.app = app
        self.limits = limits
        self.secret = secret
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v2/") or path.startswith(PUBLIC_PATHS):
            await self.app(scope, receive, send)
            return
        authorization = api_key = None
        # The first of repeated headers, as Starlette's request.headers reads them.
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"api-key" and api_key is None:
                api_key = value.decode("latin-1")
        client = scope.get("client")
        try:
            found = await precheck(
                authorization=authorization,
                api_key=api_key,
                address=client[0] if client else None,
                limits=self.limits,
                secret=self.secret,
                now=self.clock(),
            )
        except ProblemError as exc:
            response = problem_response(Request(scope), exc.code, exc.detail, headers=exc.headers)
            await response(scope, receive, send)
            return
        if found is not None:
            scope.setdefault("state", {})[STATE_KEY] = found
        await self.app(scope, receive, send)
