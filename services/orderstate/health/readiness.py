"""What ``/readyz`` asks, per process.

- The api needs PostgreSQL at a migration level it can run on, and nothing else: it never
  talks to Kafka (its writes reach Kafka through the outbox), so a Kafka outage must not take
  the REST API out of its Service.
- The worker and the relay need Kafka as well. Their Kafka check keeps one admin client per
  process and reuses its connection, so a probe is one metadata request, not a new TLS and
  SASL handshake every period.
- The monitor needs both, and its faust app running with its tables recovered
  (``StateCheck``).

The level check is ``migrate.level``, the same one ``orderstate migrate`` applies: a database
ahead of the code (a rollback) is ready, one behind it or with an edited migration is not.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from orderstate.kafka_client import kafka_options
from orderstate.projector import migrate
from orderstate.projector.connection import DATABASE_DOWN
from orderstate.settings import Settings

__all__ = ["Check", "DatabaseCheck", "KafkaCheck", "Readiness", "ReadinessCheck", "StateCheck"]

# Returns the names of the dependencies that are not ready; empty means ready.
ReadinessCheck = Callable[[], Awaitable[list[str]]]

_DATABASE_TIMEOUT_S = 2.0
_KAFKA_TIMEOUT_S = 3.0
_NOT_READY: tuple[type[Exception], ...] = (TimeoutError, asyncpg.PostgresError, *DATABASE_DOWN)


class Check(Protocol):
    async def __call__(self) -> list[str]: ...

    async def close(self) -> None: ...


class StateCheck:
    """A part of the process that says itself whether it is ready, under ``name``."""

    def __init__(self, name: str, ready: Callable[[], bool]) -> None:
        self.name = name
        self.ready = ready

    async def __call__(self) -> list[str]:
        return [] if self.ready() else [self.name]

    async def close(self) -> None:
        """Nothing to release."""


class DatabaseCheck:
    """PostgreSQL answers through the process's own pool, at a usable migration level."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self) -> list[str]:
        try:
            async with asyncio.timeout(_DATABASE_TIMEOUT_S), self.pool.acquire() as conn:
                found = await migrate.level(conn)
        except _NOT_READY:
            return ["postgresql"]
        return [] if found.usable else ["migrations"]

    async def close(self) -> None:
        """The pool belongs to the process, not to the check."""


class KafkaCheck:
    """Kafka metadata through one long-lived admin client.

    The client starts on the first probe and is reused while it works. A failed request
    closes it, and the next probe builds a new one. An answer is kept for ``ttl_s``, so
    probes arriving together (kubelet, a person with curl, a blackbox exporter) share one
    request.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        ttl_s: float = 5.0,
        timeout_s: float = _KAFKA_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()
        self._answer: list[str] = []
        self._answered_at: float | None = None

    async def __call__(self) -> list[str]:
        async with self._lock:
            now = self.clock()
            if self._answered_at is None or now - self._answered_at >= self.ttl_s:
                self._answer = await self._ask()
                self._answered_at = self.clock()
            return list(self._answer)

    async def _ask(self) -> list[str]:
        try:
            async with asyncio.timeout(self.timeout_s):
                if self.admin is None:
                    self.admin = AIOKafkaAdminClient(
                        **kafka_options(self.settings, role="readiness")
                    )
                    await self.admin.start()
                await self.admin.list_topics()
        except Exception:  # any failure to fetch metadata means "not ready"
            await self.close()
            return ["kafka"]
        return []

    async def close(self) -> None:
        admin, self.admin = self.admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()


class Readiness:
    """The checks of one process, asked together; ``close`` when the process stops."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = tuple(checks)

    async def __call__(self) -> list[str]:
        answers = await asyncio.gather(*(check() for check in self.checks))
        return [name for failing in answers for name in failing]

    async def close(self) -> None:
        for check in self.checks:
            await check.close()

    @classmethod
    def for_parts(
        cls, parts: set[str], settings: Settings, pool: asyncpg.Pool, extra: Sequence[Check] = ()
    ) -> "Readiness":
        """The api alone needs PostgreSQL; a process with a worker, relay or monitor needs
        Kafka too; ``extra`` are the process's own checks."""
        checks: list[Check] = [DatabaseCheck(pool)]
        if parts & {"worker", "relay", "monitor"}:
            checks.append(KafkaCheck(settings))
        return cls([*checks, *extra])
