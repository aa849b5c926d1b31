"""Process plumbing shared by the commands: database pool, migration level, stop signals."""

import asyncio
import signal
from typing import Any

import asyncpg
import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from orderstate.kafka_client import kafka_options
from orderstate.projector import migrate
from orderstate.settings import Settings

__all__ = [
    "StartupError",
    "open_pool",
    "require_migration_level",
    "start_kafka_client",
    "stop_on_signals",
    "wait_for_kafka",
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


async def wait_for_kafka(settings: Settings, what: str, *, wait_s: float) -> None:
    """Wait (up to ``wait_s``) until a broker answers, as ``open_pool`` waits for PostgreSQL:
    a process started while the brokers restart comes up when they are back instead of
    failing at once. Anything but an unreachable broker (wrong credentials, TLS) fails now."""
    started = asyncio.get_running_loop().time()
    delay = 0.5
    while True:
        admin = AIOKafkaAdminClient(**kafka_options(settings, role=f"{what}-bootstrap"))
        try:
            await admin.start()
        except KafkaConnectionError as exc:
            waited = asyncio.get_running_loop().time() - started
            if waited + delay > wait_s:
                return  # the client's own start reports it, with the settings to check
            log.warning(
                "kafka_unreachable_retrying",
                what=what,
                servers=settings.kafka_bootstrap_servers,
                error=str(exc),
                waited_s=round(waited, 1),
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        except KafkaError:
            return
        finally:
            await admin.close()
        return


async def start_kafka_client(
    client: Any, settings: Settings, what: str, *, wait_s: float = 60.0
) -> None:
    """Start an aiokafka client, waiting up to ``wait_s`` for an unreachable broker; or stop it
    and say which settings to check."""
    await wait_for_kafka(settings, what, wait_s=wait_s)
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


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


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
