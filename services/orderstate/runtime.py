"""Process plumbing shared by the commands: database pool, stop signals, readiness."""

import asyncio
import signal
from typing import Any

import asyncpg
import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from orderstate.kafka_client import kafka_options
from orderstate.projector import migrate
from orderstate.projector.connection import DATABASE_DOWN
from orderstate.settings import Settings

__all__ = [
    "StartupError",
    "open_pool",
    "readiness_check",
    "start_kafka_client",
    "stop_on_signals",
]

log = structlog.get_logger("orderstate")

_UNREACHABLE = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)
_NOT_READY: tuple[type[Exception], ...] = (TimeoutError, asyncpg.PostgresError, *DATABASE_DOWN)


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
                    url, min_size=1, max_size=settings.database_pool_size
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


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def readiness_check(settings: Settings, pool: asyncpg.Pool) -> "ReadinessProbe":
    return ReadinessProbe(settings, pool)


class ReadinessProbe:
    """Ready means: PostgreSQL answers at the migration head, and Kafka metadata can be fetched."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool

    async def __call__(self) -> list[str]:
        failing = []
        try:
            async with asyncio.timeout(2):
                async with self.pool.acquire() as conn:
                    versions = await migrate.applied_versions(conn)
            # Behind the code's head is not ready; ahead is, because during an upgrade the
            # pre-upgrade migration runs before the old pods are replaced.
            if max(versions, default=0) < migrate.head():
                failing.append("migrations")
        except _NOT_READY:
            failing.append("postgresql")
        admin = AIOKafkaAdminClient(**kafka_options(self.settings, role="readiness"))
        try:
            async with asyncio.timeout(3):
                await admin.start()
                await admin.list_topics()
        except Exception:  # any failure to fetch metadata means "not ready"
            failing.append("kafka")
        finally:
            await admin.close()
        return failing
