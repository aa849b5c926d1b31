"""Reaching the dependencies at start-up: the database pool and its migration level, a Kafka
client; ``StartupError`` says which one failed and what to check."""

from typing import Any

import asyncpg
import structlog
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from orderstate.projector import migrate
from orderstate.settings import Settings

__all__ = [
    "StartupError",
    "open_pool",
    "require_migration_level",
    "start_kafka_client",
]

log = structlog.get_logger("orderstate")

_UNREACHABLE = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


class StartupError(RuntimeError):
    """A dependency could not be reached at start-up; the message says which and how."""


async def open_pool(settings: Settings, *, wait_s: float = 60.0) -> asyncpg.Pool:
    url = settings.database_url.get_secret_value()
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_UNREACHABLE),
            stop=stop_after_delay(wait_s),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        ):
            with attempt:
                pool = await asyncpg.create_pool(
                    url,
                    min_size=1,
                    max_size=settings.database_pool_size,
                    statement_cache_size=settings.database_statement_cache_size,
                )
                return pool
    except _UNREACHABLE as exc:
        raise StartupError(
            f"PostgreSQL at ORDERSTATE_DATABASE_URL is unreachable after {wait_s:g} s: {exc}. "
            "Start it (`make services-up` on a laptop) or fix the URL."
        ) from exc
    except asyncpg.InvalidPasswordError as exc:
        raise StartupError(f"PostgreSQL refused the credentials: {exc}") from exc
    raise AssertionError("unreachable")


async def start_kafka_client(client: Any, settings: Settings, what: str) -> None:
    """Start an aiokafka client, or stop it and say which settings to check."""
    try:
        await client.start()
    except KafkaError as exc:
        await client.stop()
        raise StartupError(
            f"the {what} cannot reach Kafka at {settings.kafka_bootstrap_servers} "
            f"({settings.kafka_security_protocol}"
            f"{', ' + settings.kafka_sasl_mechanism if settings.kafka_sasl_mechanism else ''}): "
            f"{exc!r}; check ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS, "
            "ORDERSTATE_KAFKA_SECURITY_PROTOCOL and the ORDERSTATE_KAFKA_SASL_* / _SSL_* settings"
        ) from exc


async def require_migration_level(pool: asyncpg.Pool) -> migrate.Level:
    """The database's migration level, or StartupError when this code must not run on it.

    A worker or relay on a database behind its code would fail on the first missing column
    in the middle of a batch; refusing at start says why, once, and Kubernetes shows it.
    """
    async with pool.acquire() as conn:
        found = await migrate.level(conn)
    if not found.usable:
        raise StartupError(f"wrong migration level: {found.describe()}")
    if found.ahead:
        log.warning("database_ahead_of_code", database=found.database, code=found.code)
    return found
