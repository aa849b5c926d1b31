"""POST /v2/token: an API key for a bearer token valid 60 minutes (Seven Senders' flow)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response

from orderstate.api.compat.normalise import TOKEN
from orderstate.api.compat.openapi import request_body
from orderstate.api.credential_gate import unauthorized
from orderstate.api.deps import Context, authenticate_key
from orderstate.api.problems import Problem
from orderstate.api.requests import TokenRequest, TokenResponse
from orderstate.api.routes._common import json_response
from orderstate.api.routes.body import open_compat_body
from orderstate.api.tokens import issue_token

__all__ = ["router"]

router = APIRouter(tags=["authentication"])


@router.post(
    "/v2/token",
    response_model=TokenResponse,
    responses={
        400: {"model": Problem},
        401: {"model": Problem},
        415: {"model": Problem},
        422: {"model": Problem},
        429: {"model": Problem},
    },
    openapi_extra=request_body(TokenRequest),
)
async def create_token(
    body: Annotated[TokenRequest, open_compat_body(TOKEN)], request: Request, ctx: Context
) -> Response:
    """An access key for a bearer token (`token`), valid `expires_in` seconds. The body is
    read as JSON with or without a Content-Type header (the Spryker module sends none); a
    stale `Authorization` header on this request is not looked at."""
    found = await authenticate_key(request, ctx, body.access_key)
    if found is None:
        raise unauthorized("access_key is not an active API key")
    ttl = timedelta(seconds=ctx.settings.token_ttl_s)
    token, expires = issue_token(
        shop_id=found.shop_id,
        key_id=found.key_id,
        secret=ctx.settings.token_secret.get_secret_value(),
        now=ctx.clock(),
        ttl=ttl,
    )
    return json_response(
        TokenResponse(token=token, expires_at=expires, expires_in=int(ttl.total_seconds())),
        headers={"Cache-Control": "no-store"},
    )
