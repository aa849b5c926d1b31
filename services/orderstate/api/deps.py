"""FastAPI dependencies: the context, the authenticated shop, preconditions, and the write
runner that wraps every write in one transaction with its Idempotency-Key."""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError

from orderstate.api import idempotency, keys
from orderstate.api.auth_limits import AuthFailureLimits
from orderstate.api.compat.paths import decode_segment
from orderstate.api.context import ApiContext
from orderstate.api.credential_gate import STATE_KEY, Prechecked, precheck, unauthorized
from orderstate.api.problems import ApiCode, ProblemError, problem_response
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
    "auth_limits",
    "authenticate_key",
    "etag",
    "path_reference",
    "principal_of",
    "requires_caller",
    "run_write",
    "security_schemes",
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


# The two ways to authenticate, as the OpenAPI document shows them (app.py). They are not
# dependencies of the routes: api/credential_gate.py and _principal read the headers, and two
# more dependencies for FastAPI to resolve on every request cost 4-9 % of GET by id's
# throughput (four pairs in turns, bench/results-api-profile.md).
_BEARER = HTTPBearer(auto_error=False, description="A token from POST /v2/token, valid 60 minutes.")
_API_KEY = APIKeyHeader(
    name="API-KEY", auto_error=False, description="Legacy: the API key itself on every call."
)


def security_schemes() -> dict[str, Any]:
    """The OpenAPI document's ``components.securitySchemes``."""
    return {
        scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
        for scheme in (_BEARER, _API_KEY)
    }


def requires_caller(dependant: Dependant) -> bool:
    """Whether a route authenticates its caller: it depends on ``Caller``, at any depth."""
    return dependant.call is _principal or any(
        requires_caller(sub) for sub in dependant.dependencies
    )


async def _principal(
    request: Request,
    ctx: Context,
) -> Principal:
    """What can be checked without PostgreSQL (the token's signature, the key's form, the
    failure limits) was checked by api/credential_gate.py before routing; what it found is
    looked up here."""
    limits = auth_limits(request)
    address = request.client.host if request.client else None
    found: Prechecked | None = getattr(request.state, STATE_KEY, None)
    if found is None:
        found = await precheck(
            authorization=request.headers.get("authorization"),
            api_key=request.headers.get("api-key"),
            address=address,
            limits=limits,
            secret=ctx.settings.token_secret.get_secret_value(),
            now=ctx.clock(),
        )
    if found is None:
        await limits.check(address=address)
        await limits.failed(address=address)
        raise unauthorized(
            "credentials missing: send 'Authorization: Bearer <token>' (POST /v2/token) or "
            "the legacy 'API-KEY' header"
        )
    async with ctx.pool.acquire() as conn:
        principal = await principal_of(conn, ctx, found)
    if principal is None and found.claims is not None:
        # A token we signed is no guess at its key: a flood of wrong secrets for that key id
        # does not lock out the clients that hold its tokens.
        await limits.failed(address=address)
        raise unauthorized("the API key behind this token was revoked")
    if principal is None:
        await limits.failed(address=address, key_id=found.key_id)
        raise unauthorized("the API-KEY header names no active API key")
    return _remembered(request, principal)


async def principal_of(conn: Conn, ctx: ApiContext, found: Prechecked) -> Principal | None:
    """The shop and key behind prechecked credentials, or None when the key is unknown or
    revoked. Counts nothing: the caller decides what a miss costs."""
    if found.claims is not None:
        key = await keys.find_active_key_by_id(conn, found.claims.key_id, found.claims.shop_id)
    else:
        assert found.api_key is not None  # noqa: S101 -- a Prechecked holds a token or a key
        key = await _stored_key(conn, ctx, found.api_key)
    return None if key is None else Principal(key.shop_id, key.key_id, key.reading)


async def authenticate_key(request: Request, ctx: ApiContext, plain: str) -> keys.StoredKey | None:
    """The active key ``plain`` proves, or None (counted as a failure); 429 while its client
    address or its key id is over the failure limit. The database is asked only for a key of
    the right form."""
    limits = auth_limits(request)
    address = request.client.host if request.client else None
    await limits.check(address=address)
    key_id = keys.key_id_of(plain)
    if key_id is None:
        await limits.failed(address=address)
        return None
    await limits.check(key_id=key_id)
    async with ctx.pool.acquire() as conn:
        found = await _stored_key(conn, ctx, plain)
    if found is None:
        await limits.failed(address=address, key_id=key_id)
    return found


async def _stored_key(conn: Conn, ctx: ApiContext, plain: str) -> keys.StoredKey | None:
    return await keys.find_active_key(
        conn, plain, pepper=ctx.settings.api_key_pepper.get_secret_value()
    )


def auth_limits(request: Request) -> AuthFailureLimits:
    limits: AuthFailureLimits = request.app.state.auth_limits
    return limits


def _remembered(request: Request, principal: Principal) -> Principal:
    # The Idempotency-Key fingerprint includes how the key reads requests.
    request.state.principal = principal
    return principal


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
        pattern=idempotency.KEY_PATTERN,
        description="Makes the write safe to retry: 1-255 visible ASCII characters (e.g. a "
        "UUID), per shop. The same key with the same request (method, path, If-Match, body) "
        "returns the first response for ORDERSTATE_IDEMPOTENCY_RETENTION_HOURS (24 h); with "
        "another request, 422 idempotency_key_reused. 404 and 412 answers are not kept.",
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
        return path_reference(name, value)

    return Depends(reference)


def path_reference(name: str, value: str) -> str:
    """A reference from the path, decoded and checked; 422 ``malformed`` if it breaks the
    rule."""
    try:
        return _REFERENCE.validate_python(decode_segment(value))
    except ValidationError as exc:
        message = exc.errors(include_url=False)[0]["msg"]
        raise ProblemError(
            ReasonCode.MALFORMED,
            f"path.{name}: {message}",
            errors=[{"field": f"path.{name}", "message": message}],
        ) from None


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
    """Run a write in one transaction; replay or refuse it by its Idempotency-Key (the rules
    are in api/idempotency.py)."""
    fingerprint = _fingerprint(request, await request.body())
    now = ctx.clock()
    retention = timedelta(hours=ctx.settings.idempotency_retention_hours)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if idempotency_key is not None:
            stored = await idempotency.lock_and_find(
                conn, shop_id, idempotency_key, now=now, retention=retention
            )
            if stored is not None:
                if stored.request_hash != fingerprint:
                    raise ProblemError(
                        ApiCode.IDEMPOTENCY_KEY_REUSED,
                        f"Idempotency-Key {idempotency_key!r} was used for a different request "
                        "(method, path, If-Match or body); use a new key for a new request",
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
        if idempotency_key is not None and idempotency.is_kept(response.status_code):
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
                now,
            )
    return response


def _fingerprint(request: Request, body: bytes) -> str:
    principal: Principal | None = getattr(request.state, "principal", None)
    reading = principal.reading if principal is not None else keys.KeyReading()
    return idempotency.request_hash(
        request.method.encode(),
        request.url.path.encode(),
        (request.headers.get("if-match") or "").strip().encode(),
        f"{reading.profile}|{reading.unknown_fields}|{reading.time_zone}".encode(),
        body,
    )
