"""RFC 9457 problem responses, with our reason code in ``code``.

A rejected change answers with the same code and message the rejected Kafka
event carries. The API adds a few codes of its own for what only HTTP has
(credentials, resources, idempotency keys, body size). Every problem's
``type`` is ``/v2/problems/<code>``, where the API serves that code's page
from ``docs/reasons``.
"""

import json
from enum import StrEnum
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, JsonValue
from starlette.exceptions import HTTPException as StarletteHTTPException

from orderstate.domain import ReasonCode
from orderstate.projector.connection import DATABASE_DOWN

__all__ = [
    "ALL_CODES",
    "PROBLEM_TYPE_BASE",
    "ApiCode",
    "Problem",
    "ProblemError",
    "ProblemResponse",
    "database_down_response",
    "install_problem_handlers",
    "problem_title",
    "problem_type",
    "status_of",
]

log = structlog.get_logger("orderstate.api")

# A relative reference with the full path. RFC 9457 3.1.1 prefers absolute URIs "when
# possible" and asks relative ones to carry the full path. Behind an ingress the process
# cannot know its public origin; resolved against the URL the client called, this one
# reaches the page on whatever host and scheme serve the API, and it is the same identifier
# on every deployment, which an absolute URI would not be.
PROBLEM_TYPE_BASE = "/v2/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ApiCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    DATABASE_UNAVAILABLE = "database_unavailable"
    # Any other error the HTTP layer answers before a handler runs; status says which.
    HTTP_ERROR = "http_error"
    UNKNOWN_PARAMETER = "unknown_parameter"
    SHIPMENT_ID_AMBIGUOUS = "shipment_id_ambiguous"
    TOO_MANY_REQUESTS = "too_many_requests"
    # An order as of a moment (README "Time and history"), and the changes feed.
    NOT_YET_CREATED = "not_yet_created"
    ORDER_DELETED = "order_deleted"
    HISTORY_NOT_KEPT = "history_not_kept"
    INVALID_CURSOR = "invalid_cursor"


ALL_CODES = [c.value for c in ReasonCode] + [c.value for c in ApiCode]
_CODES_SCHEMA: list[JsonValue] = [*ALL_CODES]


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(
        description="URI reference of the problem type, /v2/problems/<code>, relative to the "
        "API's URL: GET it for what causes the code and how to fix it."
    )
    title: str
    status: int
    detail: str
    code: str = Field(
        description="Stable machine-readable reason: a domain reason code (the same as on "
        "orderstate.rejected.v1) or an API code.",
        json_schema_extra={"enum": _CODES_SCHEMA},
    )
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For malformed requests: one entry per invalid field."
    )


_STATUS: dict[str, int] = {
    ReasonCode.MALFORMED: 422,
    ReasonCode.UNKNOWN_ORDER: 404,
    ReasonCode.VERSION_CONFLICT: 412,
    ReasonCode.INTERNAL_ERROR: 500,
    ApiCode.UNAUTHORIZED: 401,
    ApiCode.NOT_FOUND: 404,
    ApiCode.METHOD_NOT_ALLOWED: 405,
    ApiCode.IDEMPOTENCY_KEY_REUSED: 422,
    ApiCode.PAYLOAD_TOO_LARGE: 413,
    ApiCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ApiCode.DATABASE_UNAVAILABLE: 503,
    ApiCode.HTTP_ERROR: 400,
    ApiCode.UNKNOWN_PARAMETER: 400,
    ApiCode.SHIPMENT_ID_AMBIGUOUS: 409,
    ApiCode.TOO_MANY_REQUESTS: 429,
    ApiCode.NOT_YET_CREATED: 404,
    ApiCode.ORDER_DELETED: 404,
    ApiCode.HISTORY_NOT_KEPT: 404,
    ApiCode.INVALID_CURSOR: 400,
}
_TITLES: dict[str, str] = {ApiCode.HTTP_ERROR: "HTTP error"}
# A client may retry after this many seconds; the pool replaces lost connections meanwhile.
_RETRY_AFTER_S = 1


def status_of(code: str) -> int:
    """Every other reason code is a rejected change: 409."""
    return _STATUS.get(code, 409)


def problem_type(code: str) -> str:
    return PROBLEM_TYPE_BASE + code


def problem_title(code: str) -> str:
    """The same for every occurrence of a code (RFC 9457), and the heading of its page."""
    return _TITLES.get(code) or code.replace("_", " ").capitalize()


class ProblemError(Exception):
    def __init__(
        self,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def problem_response(
    request: Request,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    status: int | None = None,
) -> JSONResponse:
    status = status or status_of(code)
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": problem_title(code),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status, headers=headers)


class ProblemResponse(JSONResponse):
    """A problem document that always encodes. Details and field names quote the request, and
    a JSON body may hold lone surrogates ("\\ud800", valid JSON escapes that no UTF-8 text can
    carry): those become U+FFFD instead of failing the answer with a 500."""

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def database_down_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer to any request that met one of ``DATABASE_DOWN``: 503 with Retry-After."""
    # A write in flight is rolled back with its connection unless its COMMIT had already
    # reached the server; the same Idempotency-Key makes a retry safe in both cases.
    log.warning("database_unavailable", error=repr(exc), path=request.url.path)
    return problem_response(
        request,
        ApiCode.DATABASE_UNAVAILABLE,
        "PostgreSQL cannot be reached right now. Retry the request (writes with the same "
        "Idempotency-Key, so that it cannot apply twice).",
        headers={"Retry-After": str(_RETRY_AFTER_S)},
    )


def install_problem_handlers(app: Any) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)  # noqa: S101 -- registered for this type only
        return problem_response(
            request, exc.code, exc.detail, headers=exc.headers, errors=exc.errors
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 -- registered for this type
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(request, ReasonCode.MALFORMED, detail, errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 -- registered for this type
        code = {
            404: ApiCode.NOT_FOUND,
            405: ApiCode.METHOD_NOT_ALLOWED,
            413: ApiCode.PAYLOAD_TOO_LARGE,
            415: ApiCode.UNSUPPORTED_MEDIA_TYPE,
            401: ApiCode.UNAUTHORIZED,
        }.get(exc.status_code, ApiCode.HTTP_ERROR)
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(
            request, code, str(exc.detail), headers=headers, status=exc.status_code
        )

    async def on_database_down(request: Request, exc: Exception) -> JSONResponse:
        return database_down_response(request, exc)

    app.add_exception_handler(ProblemError, on_problem)
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, on_database_down)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
