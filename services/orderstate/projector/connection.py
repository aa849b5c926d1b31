"""The connection type the write path accepts, the errors that mean a connection is gone, and
the retry for a step that must wait for PostgreSQL to come back."""

from typing import TypeAlias

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

__all__ = ["DATABASE_DOWN", "Conn", "while_database_down"]

log = structlog.get_logger("orderstate.database")

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


def while_database_down(step: str) -> AsyncRetrying:
    """``async for attempt in while_database_down("step"): with attempt: ...`` runs the step
    again, with backoff up to 5 s, for as long as it fails with a DATABASE_DOWN error, and
    logs each wait with the step's name. Any other error is raised at once."""

    def waiting(state: RetryCallState) -> None:
        log.warning(
            "database_unavailable_retrying",
            step=step,
            attempt=state.attempt_number,
            error=repr(state.outcome.exception()) if state.outcome else None,
        )

    return AsyncRetrying(
        retry=retry_if_exception_type(DATABASE_DOWN),
        wait=wait_random_exponential(multiplier=0.2, max=5),
        before_sleep=waiting,
        reraise=True,
    )
