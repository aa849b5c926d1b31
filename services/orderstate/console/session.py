"""The console's session: the bearer token of POST /v2/token in a cookie, and the check that a
form was posted by the console's own pages.

The API key is typed once into the login form and exchanged for a token exactly as POST
/v2/token does (``api.deps.authenticate_key``, with its failure limits, then
``api.tokens.issue_token``); the cookie holds that token, never the key. The cookie is
httpOnly (no script reads it), SameSite=Strict (no other site's page sends it), limited to
/ui, Secure when the console is served over https, and lives as long as the token. Every page
reads it the way the API reads a bearer token: signature and expiry first, then whether its
key is still active, so revoking a key (`orderstate apikey revoke`) ends its sessions at once.

Forged posts: SameSite=Strict already keeps the cookie off any request another site starts.
The login and logout forms, which need no cookie, are refused too unless the browser says the
request comes from this origin: ``Sec-Fetch-Site`` (same-origin) where the browser sends it,
else an ``Origin`` equal to the console's own. A request with neither is refused: every
browser of the last years sends at least one on a POST.
"""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from fastapi import Request, Response

from orderstate.api import keys
from orderstate.api.context import ApiContext
from orderstate.api.tokens import TokenError, issue_token, read_token

__all__ = [
    "COOKIE",
    "LoginRequired",
    "Session",
    "end_session",
    "from_own_page",
    "safe_next",
    "session_of",
    "start_session",
]

COOKIE = "orderstate_console"
_PATH = "/ui"


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to

    def login_url(self) -> str:
        return f"{_PATH}/login?next={quote(self.back_to, safe='/')}"


@dataclass(frozen=True, slots=True)
class Session:
    shop_id: str
    key_id: str


def start_session(
    response: Response, request: Request, ctx: ApiContext, key: keys.StoredKey
) -> None:
    """Issue a token for the key, as POST /v2/token does, and put it into the cookie."""
    ttl = timedelta(seconds=ctx.settings.token_ttl_s)
    token, _expires = issue_token(
        shop_id=key.shop_id,
        key_id=key.key_id,
        secret=ctx.settings.token_secret.get_secret_value(),
        now=ctx.clock(),
        ttl=ttl,
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        path=_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE,
        path=_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


async def session_of(request: Request, ctx: ApiContext) -> Session:
    """The session of the request's cookie; ``LoginRequired`` when there is none, it expired,
    or its key was revoked."""
    back_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired(back_to)
    try:
        claims = read_token(
            token, secret=ctx.settings.token_secret.get_secret_value(), now=ctx.clock()
        )
    except TokenError:
        raise LoginRequired(back_to) from None
    async with ctx.pool.acquire() as conn:
        key = await keys.find_active_key_by_id(conn, claims.key_id, claims.shop_id)
    if key is None:
        raise LoginRequired(back_to)
    return Session(shop_id=key.shop_id, key_id=key.key_id)


def from_own_page(request: Request) -> bool:
    """Whether the browser says this POST comes from a page of this origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and origin == f"{request.url.scheme}://{request.url.netloc}"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a console path only, never another site."""
    if value and value.startswith(f"{_PATH}/") and not value.startswith("//"):
        return value
    return f"{_PATH}/"
