"""The request body of every write, read through the compatibility rules.

A route asks for ``Annotated[OrderCreate, compat_body(ORDER_CREATE)]`` instead of a plain
body parameter. The dependency reads the raw body (JSON also without a Content-Type
header, as the Spryker module's token request sends it), applies the caller's reading
(``normalise``), refuses unknown fields in strict mode, notes the ignored ones, and validates
the result with the same model as before.
"""

from email.message import Message
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from orderstate.api.compat.ignored import note_ignored
from orderstate.api.compat.normalise import BodyRules, CompatError, normalise
from orderstate.api.compat.reading import Reading, reading_for
from orderstate.api.context import ApiContext
from orderstate.api.deps import Caller, Context
from orderstate.api.problems import ApiCode, ProblemError
from orderstate.domain import ReasonCode
from orderstate.events.envelope import parse_json
from orderstate.events.errors import DecodeError

__all__ = ["compat_body", "open_compat_body"]

_MAX_DEPTH = 32


def compat_body(rules: BodyRules) -> Any:
    """A dependency giving the validated body of ``rules.model``, read for the caller's key."""

    async def body(request: Request, ctx: Context, caller: Caller) -> BaseModel:
        return await _read(request, rules, reading_for(caller.reading, ctx.settings), ctx)

    return Depends(body)


def open_compat_body(rules: BodyRules) -> Any:
    """The same for a route anyone may call (POST /v2/token): read by the settings alone."""

    async def body(request: Request, ctx: Context) -> BaseModel:
        return await _read(request, rules, reading_for(None, ctx.settings), ctx)

    return Depends(body)


async def _read(request: Request, rules: BodyRules, reading: Reading, ctx: ApiContext) -> BaseModel:
    payload = _json_object(request, await request.body(), ctx.settings.api_max_body_bytes)
    try:
        result = normalise(payload, rules, reading)
    except CompatError as exc:
        raise _malformed([(exc.field_path, exc.message)]) from None
    if reading.refuse_unknown and result.unknown:
        raise _malformed(
            [
                (name, "unknown field; this API key refuses fields orderstate does not know")
                for name in result.unknown
            ]
        )
    note_ignored(request, result.ignored, result.labels)
    try:
        return rules.model.model_validate(result.data)
    except ValidationError as exc:
        raise _malformed(
            [
                (".".join(str(p) for p in error["loc"]), error["msg"])
                for error in exc.errors(include_url=False)
            ]
        ) from None


def _json_object(request: Request, raw: bytes, max_bytes: int) -> dict[str, Any]:
    content_type = request.headers.get("content-type")
    if content_type:
        message = Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        if message.get_content_maintype() != "application" or not (
            subtype == "json" or subtype.endswith("+json")
        ):
            raise ProblemError(
                ApiCode.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {content_type!r}: send the body as JSON (application/json, or "
                "no Content-Type header)",
            )
    if not raw.strip():
        raise _malformed([("", "a JSON object is required")])
    try:
        payload = parse_json(
            raw, max_bytes=max_bytes, max_depth=_MAX_DEPTH, what="the body", unique_names=True
        )
    except DecodeError as exc:
        raise _malformed([("", exc.message)]) from None
    if not isinstance(payload, dict):
        raise _malformed([("", "the body must be a JSON object")])
    return payload


def _malformed(problems: list[tuple[str, str]]) -> ProblemError:
    errors = [
        {"field": f"body.{name}" if name else "body", "message": message}
        for name, message in problems
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ProblemError(ReasonCode.MALFORMED, detail, errors=errors)
