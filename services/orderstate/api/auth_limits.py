"""Failed authentications, counted per client address and per API key id, bound what a flood
of bad credentials costs.

Credentials are checked as cheaply as they can be: a bearer token's signature without the
database, an API key's form before its row is read. What still reaches PostgreSQL (a key id
that exists, a token of a revoked key) is what these limits bound: beyond
ORDERSTATE_API_AUTH_FAILURES_PER_MINUTE failures within a minute, requests from that address,
or naming that key id, are answered 429 with Retry-After before anything is looked up. The
counts live in the api process (a moving window of the ``limits`` library), so each api pod
counts on its own.
"""

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from orderstate import metrics
from orderstate.api.problems import ApiCode, ProblemError

__all__ = ["AuthFailureLimits"]


class AuthFailureLimits:
    def __init__(self, failures_per_minute: int) -> None:
        self.enabled = failures_per_minute > 0
        self.item = RateLimitItemPerMinute(max(failures_per_minute, 1))
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def check(self, *, address: str | None = None, key_id: str | None = None) -> None:
        """ProblemError 429 if the address or the key id has failed too often lately."""
        if not self.enabled:
            return
        for scope, value in (("address", address), ("key", key_id)):
            if value is not None and not await self.limiter.test(self.item, scope, value):
                stats = await self.limiter.get_window_stats(self.item, scope, value)
                wait = max(math.ceil(stats.reset_time - time.time()), 1)
                metrics.AUTH_THROTTLED.labels(scope).inc()
                raise ProblemError(
                    ApiCode.TOO_MANY_REQUESTS,
                    f"too many failed authentications from this {_WHAT[scope]}; retry in "
                    f"{wait} s with valid credentials",
                    headers={"Retry-After": str(wait)},
                )

    async def failed(self, *, address: str | None, key_id: str | None = None) -> None:
        if not self.enabled:
            return
        if address is not None:
            await self.limiter.hit(self.item, "address", address)
        if key_id is not None:
            await self.limiter.hit(self.item, "key", key_id)


_WHAT = {"address": "client address", "key": "API key id"}
