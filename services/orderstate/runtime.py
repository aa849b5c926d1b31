"""Process plumbing shared by the commands: database pool, migration level, stop signals."""

import asyncio
import signal
import ssl
from typing import Any

import asyncpg
import structlog
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from orderstate.projector import migrate
from orderstate.settings import Settings

__all__ = [
    "CONNECT_ERRORS",
    "StartupError",
    "connect_failure",
    "open_pool",
    "require_migration_level",
    "start_kafka_client",
    "stop_on_signals",
]

log = structlog.get_logger("orderstate")

_UNREACHABLE = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)
# Unreachable now, but waiting does not help: the certificate or a file of the URL is wrong.
_CONFIGURED_WRONG = (ssl.SSLError, ssl.CertificateError, FileNotFoundError, PermissionError)
# What opening a connection raises: unreachable, refused, or a URL that cannot be used (a
# ValueError may quote part of the URL, so its text is never shown).
CONNECT_ERRORS = (OSError, ValueError, OverflowError, asyncpg.PostgresError)


class StartupError(RuntimeError):
    """A dependency could not be reached at start-up; the message says which and how."""


def connect_failure(exc: BaseException) -> str:
    """Why a connection to PostgreSQL failed, in words that never quote the URL."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"PostgreSQL's TLS certificate was refused ({exc.verify_message}): check sslrootcert "
            "in ORDERSTATE_DATABASE_URL, and that the URL's host is a name the certificate holds"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"the TLS handshake with PostgreSQL failed ({exc.reason or type(exc).__name__}): "
            "check sslmode, sslrootcert, sslcert and sslkey in ORDERSTATE_DATABASE_URL"
        )
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return (
            "a file that ORDERSTATE_DATABASE_URL names (sslrootcert, sslcert, sslkey) cannot be "
            f"read: {exc.strerror}"
        )
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return f"PostgreSQL refused the credentials: {exc}"
    if isinstance(exc, asyncpg.PostgresError):
        return f"PostgreSQL refused the connection: {exc}"
    if isinstance(exc, OSError):
        return f"PostgreSQL at ORDERSTATE_DATABASE_URL is unreachable: {exc}"
    if isinstance(exc, asyncpg.ClientConfigurationError):
        # asyncpg's own words about a parameter (sslmode=...), not the URL's text.
        return f"ORDERSTATE_DATABASE_URL cannot be used: {exc}"
    return (
        "ORDERSTATE_DATABASE_URL cannot be read: use postgresql://user:password@host:5432/"
        "database, with '/', ':', '@', '?' and '#' in the user name and password "
        "percent-encoded"
    )


def _worth_waiting(exc: BaseException) -> bool:
    return isinstance(exc, _UNREACHABLE) and not isinstance(exc, _CONFIGURED_WRONG)


async def open_pool(settings: Settings, *, wait_s: float = 60.0) -> asyncpg.Pool:
    url = settings.database_url.get_secret_value()
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_worth_waiting),
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
    except CONNECT_ERRORS as exc:
        if _worth_waiting(exc):
            raise StartupError(
                f"PostgreSQL at ORDERSTATE_DATABASE_URL is unreachable after {wait_s:g} s: "
                f"{exc}. Start it (`make services-up` on a laptop) or fix the URL."
            ) from None
        raise StartupError(connect_failure(exc)) from None
    raise AssertionError("unreachable")


async def start_kafka_client(client: Any, settings: Settings, what: str) -> None:
    """Start an aiokafka client, or stop it and say which settings to check."""
    from orderstate.kafka_client import tls_diagnosis

    try:
        await client.start()
    except KafkaError as exc:
        await client.stop()
        tls = await tls_diagnosis(settings)
        if tls is not None:
            raise StartupError(
                f"the {what} cannot reach Kafka at {settings.kafka_bootstrap_servers} "
                f"({settings.kafka_security_protocol}): {tls}"
            ) from exc
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
