"""The connection type the write path accepts: a plain connection or one from a pool."""

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["Conn"]

Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
