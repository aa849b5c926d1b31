"""FastAPI dependencies: the context, the authenticated shop, preconditions, and the write
runner that wraps every write in one transaction with its Idempotency-Key."""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError

from orderstate.api import idempotency, keys
from orderstate.api.compat.paths import decode_segment
from orderstate.api.context import ApiContext
from orderstate.api.problems import ApiCode, ProblemError, problem_response
from orderstate.api.tokens import TokenError, read_token
from orderstate.domain import ReasonCode
from orderstate.events.fields import REFERENCE_PATTERN, OrderId, check_reference
from orderstate.projector.connection import Conn

__all__ = [
    "Caller",
    "Context",
    "ExpectedVersion",
    "IdempotencyKey",
    "ItemIdPath",
    "OrderIdPath",
    "Principal",
    "ReferenceQuery",
    "ShipmentIdPath",
    "ShopId",
    "etag",
    "run_write",
]


async def _context(request: Request) -> ApiContext:
    # async: a plain def would run in the thread pool, a thread hop per request.
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(_context)]


@dataclass(frozen=True, slots=True)
class Principal:
    shop_id: str
    key_id: str
    # How the key's requests are read (api/compat).
    reading: keys.KeyReading


_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="orderstate"'}


_BEARER = HTTPBearer(auto_error=False, description="A token from POST /v2/token, valid 60 minutes.")
_API_KEY = APIKeyHeader(
    name="API-KEY", auto_error=False, description="Legacy: the API key itself on every call."
)


async def _principal(
    request: Request,
    ctx: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    api_key: Annotated[str | None, Security(_API_KEY)],
) -> Principal:
    if bearer is None and "authorization" in request.headers:
        # Bad credentials are refused even when another header would have been good.
        raise _unauthorized("Authorization must be 'Bearer <token>'")
    async with ctx.pool.acquire() as conn:
        if bearer is not None:
            try:
                claims = read_token(
                    bearer.credentials,
                    secret=ctx.settings.token_secret.get_secret_value(),
                    now=ctx.clock(),
                )
            except TokenError as exc:
                raise _unauthorized(str(exc)) from None
            key = await keys.find_active_key_by_id(conn, claims.key_id, claims.shop_id)
            if key is None:
                raise _unauthorized("the API key behind this token was revoked")
            return Principal(key.shop_id, key.key_id, key.reading)
        if api_key is not None:
            found = await keys.find_active_key(
                conn, api_key, pepper=ctx.settings.api_key_pepper.get_secret_value()
            )
            if found is None:
                raise _unauthorized("the API-KEY header names no active API key")
            return Principal(found.shop_id, found.key_id, found.reading)
    raise _unauthorized(
        "credentials missing: send 'Authorization: Bearer <token>' (POST /v2/token) or the "
        "legacy 'API-KEY' header"
    )


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(ApiCode.UNAUTHORIZED, detail, headers=_UNAUTHORIZED_HEADERS)


Caller = Annotated[Principal, Depends(_principal)]


async def _shop_id(principal: Caller) -> str:
    return principal.shop_id


ShopId = Annotated[str, Depends(_shop_id)]

_VERSION_TAG = re.compile(r'^(?:W/)?"(\d{1,10})"$')


async def _expected_version(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The ETag of the order as read ("<version>"): the write applies only '
            "if the order is still at that version; otherwise 412 version_conflict.",
        ),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    match = _VERSION_TAG.match(if_match.strip())
    if match is None:
        # No ETag we issue looks like this, so it cannot match the current one (RFC 9110).
        raise ProblemError(
            ReasonCode.VERSION_CONFLICT,
            f'If-Match {if_match!r} names no version of this order; ETags look like "3"',
        )
    return int(match[1])


ExpectedVersion = Annotated[int | None, Depends(_expected_version)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Makes the write safe to retry: the same key with the same body returns "
        "the first response; with another body, 422.",
    ),
]


_REFERENCE: TypeAdapter[str] = TypeAdapter(OrderId)


def _reference_path(name: str, description: str) -> Any:
    """A reference in the path, percent-encoded by the client. The route path keeps '%2F' and
    '%25' encoded (api/compat/paths.py), so they are decoded here and the decoded value is
    checked against the same rule as in a body."""

    async def reference(
        value: Annotated[
            str,
            Path(
                alias=name,
                description=f"{description} Percent-encode it: '#' as %23, '/' as %2F, ' ' as %20.",
                json_schema_extra={"minLength": 1, "maxLength": 128, "pattern": REFERENCE_PATTERN},
            ),
        ],
    ) -> str:
        try:
            return _REFERENCE.validate_python(decode_segment(value))
        except ValidationError as exc:
            message = exc.errors(include_url=False)[0]["msg"]
            raise ProblemError(
                ReasonCode.MALFORMED,
                f"path.{name}: {message}",
                errors=[{"field": f"path.{name}", "message": message}],
            ) from None

    return Depends(reference)


# A reference in a query parameter (filters[order_id]): the same rule, decoded by the server.
ReferenceQuery = Annotated[
    str, StringConstraints(min_length=1, max_length=128), AfterValidator(check_reference)
]
OrderIdPath = Annotated[str, _reference_path("order_id", "The shop's order reference.")]
ItemIdPath = Annotated[str, _reference_path("item_id", "The item id.")]
ShipmentIdPath = Annotated[str, _reference_path("shipment_id", "The shipment id.")]


def etag(version: int) -> str:
    return f'"{version}"'


async def run_write(
    request: Request,
    ctx: ApiContext,
    shop_id: str,
    idempotency_key: str | None,
    action: Callable[[Conn], Awaitable[Response]],
) -> Response:
    """Run a write in one transaction; replay or refuse it by its Idempotency-Key."""
    body = await request.body()
    fingerprint = idempotency.request_hash(request.method, request.url.path, body)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if idempotency_key is not None:
            stored = await idempotency.lock_and_find(conn, shop_id, idempotency_key)
            if stored is not None:
                if stored.request_hash != fingerprint:
                    raise ProblemError(
                        ApiCode.IDEMPOTENCY_KEY_REUSED,
                        f"Idempotency-Key {idempotency_key!r} was used for a different request; "
                        "use a new key for a new request",
                    )
                headers = {**stored.headers, "Idempotent-Replayed": "true"}
                return Response(stored.body, stored.status, headers=headers)
        try:
            response = await action(conn)
        except ProblemError as exc:
            # A rejection is an answer too: a retry with the same key gets the same one.
            response = problem_response(
                request, exc.code, exc.detail, headers=exc.headers, errors=exc.errors
            )
        if idempotency_key is not None:
            kept = {
                k: v
                for k, v in response.headers.items()
                if k.lower() in ("location", "etag", "content-type")
            }
            await idempotency.store(
                conn,
                shop_id,
                idempotency_key,
                idempotency.StoredResponse(
                    fingerprint,
                    response.status_code,
                    kept,
                    bytes(response.body).decode() if response.body else None,
                ),
                ctx.clock(),
            )
    return response
