"""Failed authentications, counted per client address and per API key id, bound what a flood
of bad credentials costs.

Credentials are checked as cheaply as they can be: a bearer token's signature without the
database, an API key's form before its row is read. What still reaches PostgreSQL (a key id
that exists, a token of a revoked key) is what these limits bound: beyond
ORDERSTATE_API_AUTH_FAILURES_PER_MINUTE failures within a minute, requests from that address,
or presenting that key id, are answered 429 with Retry-After before anything is looked up.
The counts live in the api process, so each api pod counts on its own.

The ``limits`` library's asyncio memory storage was measured first (bench/security.py): after
every hit it schedules a sweep over all keys with a thread hop per key, which under a flood
from many addresses cost more CPU than the requests it refused. Here each key keeps the times
of its last failures in a bounded deque, checked on access; memory is bounded by evicting
the stalest keys when there are too many.
"""

import math
import time
from collections import deque
from collections.abc import Callable

from orderstate import metrics
from orderstate.api.problems import ApiCode, ProblemError

__all__ = ["AuthFailureLimits", "FailureWindow"]

_WINDOW_S = 60.0
# Keys kept at most per scope: a flood from a botnet cannot grow the process without bound.
_MAX_KEYS = 100_000


class FailureWindow:
    """The last ``limit`` failure times of each key, over a moving window."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = _WINDOW_S,
        max_keys: int = _MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self.failures: dict[str, deque[float]] = {}

    def wait_s(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it is under the limit."""
        times = self.failures.get(key)
        if times is None or len(times) < self.limit:
            return None
        # The window frees a slot when the oldest of the last ``limit`` failures ages out.
        left = self.window_s - (self.clock() - times[0])
        return left if left > 0 else None

    def add(self, key: str) -> None:
        times = self.failures.pop(key, None) or deque(maxlen=self.limit)
        times.append(self.clock())
        # Re-inserted: the dict's order is the order of the latest failures.
        self.failures[key] = times
        if len(self.failures) > self.max_keys:
            self._evict()

    def _evict(self) -> None:
        """Drop keys with no failure in the window; if that is not enough, the half whose
        latest failure is oldest. Amortised O(1) per failure."""
        now = self.clock()
        stale = [k for k, t in self.failures.items() if now - t[-1] >= self.window_s]
        for key in stale:
            del self.failures[key]
        excess = len(self.failures) - self.max_keys // 2
        if excess > 0 and len(self.failures) > self.max_keys * 3 // 4:
            for key in list(self.failures)[:excess]:
                del self.failures[key]


class AuthFailureLimits:
    def __init__(self, failures_per_minute: int) -> None:
        self.enabled = failures_per_minute > 0
        limit = max(failures_per_minute, 1)
        self.windows = {"address": FailureWindow(limit), "key": FailureWindow(limit)}

    async def check(self, *, address: str | None = None, key_id: str | None = None) -> None:
        """ProblemError 429 if the address or the key id has failed too often lately."""
        if not self.enabled:
            return
        for scope, value in (("address", address), ("key", key_id)):
            wait = None if value is None else self.windows[scope].wait_s(value)
            if wait is not None:
                seconds = max(math.ceil(wait), 1)
                metrics.AUTH_THROTTLED.labels(scope).inc()
                raise ProblemError(
                    ApiCode.TOO_MANY_REQUESTS,
                    f"too many failed authentications from this {_WHAT[scope]}; retry in "
                    f"{seconds} s with valid credentials",
                    headers={"Retry-After": str(seconds)},
                )

    async def failed(self, *, address: str | None, key_id: str | None = None) -> None:
        if not self.enabled:
            return
        if address is not None:
            self.windows["address"].add(address)
        if key_id is not None:
            self.windows["key"].add(key_id)


_WHAT = {"address": "client address", "key": "API key id"}
