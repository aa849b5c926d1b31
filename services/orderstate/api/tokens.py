"""Bearer tokens of ``POST /v2/token``: short-lived JWTs (HS256) naming the shop and the key.

A token stays valid only while its API key is not revoked: every request checks
the key, so revoking a key ends its tokens at once, not after up to an hour.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

__all__ = ["TokenClaims", "TokenError", "issue_token", "read_token"]

_ISSUER = "orderstate"
_ALGORITHM = "HS256"


class TokenError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TokenClaims:
    shop_id: str
    key_id: str
    expires_at: datetime


def issue_token(
    *, shop_id: str, key_id: str, secret: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    expires = now + ttl
    token = jwt.encode(
        {"iss": _ISSUER, "sub": shop_id, "kid": key_id, "iat": now, "exp": expires},
        secret,
        algorithm=_ALGORITHM,
    )
    return token, expires


def read_token(token: str, *, secret: str, now: datetime) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={
                "require": ["exp", "sub", "kid", "iss"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid bearer token: {exc}") from None
    # Time claims are checked against the caller's clock, so tests and servers agree on "now".
    expires = datetime.fromtimestamp(claims["exp"], tz=now.tzinfo)
    if expires <= now:
        raise TokenError("the bearer token expired; get a new one from POST /v2/token")
    return TokenClaims(shop_id=claims["sub"], key_id=claims["kid"], expires_at=expires)
