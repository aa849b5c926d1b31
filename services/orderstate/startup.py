"""Reaching the dependencies at start-up: the database pool and its migration level, a Kafka
client; ``StartupError`` says which one failed and what to check."""

import asyncio
import contextlib
import logging
import ssl
from typing import Any

import asyncpg
import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from orderstate.kafka_client import KafkaTlsFilesError, kafka_options, tls_diagnosis
from orderstate.projector import migrate
from orderstate.settings import Settings

__all__ = [
    "CONNECT_ERRORS",
    "StartupError",
    "check_kafka",
    "connect_failure",
    "connect_once",
    "open_pool",
    "require_migration_level",
    "start_kafka_client",
    "wait_for_kafka",
]

log = structlog.get_logger("orderstate")

_UNREACHABLE = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)
# Unreachable now, but waiting does not help: the certificate or a file of the URL is wrong.
_CONFIGURED_WRONG = (ssl.SSLError, ssl.CertificateError, FileNotFoundError, PermissionError)
# What opening a connection raises: unreachable, refused, or a URL that cannot be used (a
# ValueError may quote part of the URL, so its text is never shown).
CONNECT_ERRORS = (OSError, ValueError, OverflowError, asyncpg.PostgresError)
_CONNECT_TIMEOUT_S = 2.0


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


async def _no_session_state_to_reset(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool beyond asyncpg's own part (rolling
    back a transaction left open): nothing. orderstate leaves no session state on pooled
    connections: settings only as ``SET LOCAL``, advisory locks only transaction-scoped, and
    LISTEN only on the relay's own connection (tests/integration/api/test_pool_sessions.py
    checks it). asyncpg's default, ``RESET ALL`` and its kin, is a round trip on every release:
    three per GET of an order, a fifth of the API's CPU for it (bench/results-api.md)."""


async def connect_once(settings: Settings, *, connect_timeout_s: float = 60) -> asyncpg.Connection:
    """One connection for a command, with the statement cache the processes' pools have
    (ORDERSTATE_DATABASE_STATEMENT_CACHE_SIZE): behind PgBouncer in transaction mode the
    named statements of asyncpg's cache, numbered from 1 in every process, outlive the
    command on the pooler's server connections and break the next one. Connection errors are
    the caller's to word (CONNECT_ERRORS, connect_failure)."""
    return await asyncpg.connect(
        settings.database_url.get_secret_value(),
        statement_cache_size=settings.database_statement_cache_size,
        timeout=connect_timeout_s,
    )


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
                    reset=_no_session_state_to_reset,
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


async def wait_for_kafka(settings: Settings, what: str, *, wait_s: float) -> None:
    """Wait (up to ``wait_s``) until a bootstrap server accepts connections, as ``open_pool``
    waits for PostgreSQL: a process started while the brokers restart comes up when they are
    back instead of failing at once. A broker that answers but refuses the client (wrong
    credentials, TLS) is not waited for: the client's start reports it at once. One warning
    line says that it waits, not one per attempt."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    delay = 0.5
    warned = False
    while True:
        error = await _no_broker_listens(settings.kafka_bootstrap_servers)
        if error is None or loop.time() + delay > deadline:
            return  # the client's own start reports an unreachable broker, with what to check
        if not warned:
            log.warning(
                "kafka_unreachable_waiting",
                what=what,
                servers=settings.kafka_bootstrap_servers,
                error=error,
                wait_s=wait_s,
            )
            warned = True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def _no_broker_listens(servers: str) -> str | None:
    """None when a bootstrap server accepts a TCP connection; else why the last did not."""
    error = "no bootstrap server given"
    for server in (s.strip() for s in servers.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except (OSError, TimeoutError, ValueError) as exc:
            error = f"{server}: {str(exc) or type(exc).__name__}"
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return None
    return error


async def start_kafka_client(
    client: Any,
    settings: Settings,
    what: str,
    *,
    wait_s: float | None = None,
    quiet: bool = False,
) -> None:
    """Start an aiokafka client, waiting up to ``wait_s`` (ORDERSTATE_KAFKA_STARTUP_WAIT_S
    unless given) for an unreachable broker; or stop it and raise StartupError saying which
    settings to check.

    ``quiet`` holds back aiokafka's own log lines meanwhile, so that a broker out of reach is
    the one line of the StartupError (which quotes aiokafka's reason) instead of one per
    attempt; they are logged after all when the client starts. Only for a client that starts
    while nothing else in the process talks to Kafka: the hold is process-wide.
    """
    held = _HeldRecords()
    kafka_log = logging.getLogger("aiokafka")
    if quiet:
        kafka_log.addHandler(held)
        kafka_log.propagate = False
    try:
        await wait_for_kafka(
            settings, what, wait_s=settings.kafka_startup_wait_s if wait_s is None else wait_s
        )
        await client.start()
    except (KafkaError, OSError) as exc:
        # Producers and consumers stop, the admin client closes.
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
        # aiokafka says only that it could not bootstrap, which hides an untrusted certificate.
        tls = await tls_diagnosis(settings)
        if tls is not None:
            raise StartupError(
                f"the {what} cannot reach Kafka at {settings.kafka_bootstrap_servers} "
                f"({settings.kafka_security_protocol}): {tls}"
            ) from exc
        raise StartupError(_kafka_unreachable(settings, what, held.reason() or str(exc))) from exc
    finally:
        if quiet:
            kafka_log.removeHandler(held)
            kafka_log.propagate = True
    for record in held.records:
        kafka_log.handle(record)


async def check_kafka(settings: Settings, what: str) -> None:
    """StartupError unless the brokers answer (a metadata request) within
    ORDERSTATE_KAFKA_STARTUP_WAIT_S, before anything else of the process talks to Kafka."""
    try:
        admin = AIOKafkaAdminClient(**kafka_options(settings, role="startup"))
    except KafkaTlsFilesError as exc:
        raise StartupError(str(exc)) from None
    await start_kafka_client(admin, settings, what, quiet=True)
    await admin.close()


def _kafka_unreachable(settings: Settings, what: str, reason: str) -> str:
    """One line: where orderstate looked for Kafka, why it failed, and what to check."""
    how: str = settings.kafka_security_protocol
    if settings.kafka_sasl_mechanism:
        how += f", {settings.kafka_sasl_mechanism}"
    reason = " ".join(reason.split())
    return (
        f"the {what} cannot reach Kafka at {settings.kafka_bootstrap_servers} ({how}): "
        f"{reason}. Check that the brokers run and ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS, "
        "ORDERSTATE_KAFKA_SECURITY_PROTOCOL and the ORDERSTATE_KAFKA_SASL_* and "
        "ORDERSTATE_KAFKA_SSL_* settings (`make services-up` starts a broker on a laptop)."
    )


class _HeldRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def reason(self) -> str | None:
        """aiokafka's last complaint, which says more than its exception ("Unable to
        bootstrap"): refused, no such host, a TLS or SASL failure."""
        return self.records[-1].getMessage() if self.records else None


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
