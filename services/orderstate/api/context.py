"""What every request handler needs, built once per app: settings, pool, policies, clock."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from orderstate.domain import PolicyBook
from orderstate.settings import Settings

__all__ = ["ApiContext"]


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    pool: asyncpg.Pool
    policies: PolicyBook
    # Injected so tests can move time (token expiry) without sleeping.
    clock: Callable[[], datetime]
