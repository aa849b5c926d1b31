"""The connection type the write path accepts, and the errors that mean a connection is gone."""

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["DATABASE_DOWN", "Conn"]

Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy

# Errors after which the same work may succeed on a fresh connection. InternalClientError is
# in the list because asyncpg raises it ("cannot switch to state ...; another operation is in
# progress") on a pooled connection whose server process was terminated mid-operation; the
# pool drops that connection when it is released, and the retry gets a new one.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
