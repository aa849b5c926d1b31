"""Run the long-lived parts (worker, relay, api) in one event loop until a signal or a failure."""

import asyncio
import gc
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
import uvicorn

from orderstate.domain import PolicyBook, PolicyError
from orderstate.ops_server import EmbeddedServer, serve_ops
from orderstate.policy_config import read_policy_book
from orderstate.readiness import Readiness
from orderstate.runtime import StartupError, open_pool, require_migration_level, stop_on_signals
from orderstate.settings import Settings

__all__ = ["run_processes", "serve_api"]

log = structlog.get_logger("orderstate")


async def run_processes(settings: Settings, parts: set[str], ops_host: str, ops_port: int) -> int:
    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        policies = read_policy_book(settings.policy_file)
        pool = await open_pool(settings)
    except (PolicyError, StartupError) as exc:
        log.error("startup_failed", error=str(exc))
        return 2
    readiness = Readiness.for_parts(parts, settings, pool)
    ops = None
    try:
        try:
            if parts & {"worker", "relay"}:
                # A worker or relay on the wrong schema would fail in the middle of its work:
                # it refuses to start. The api stays up instead and reports "migrations" on
                # /readyz, which keeps it out of its Service without a crash loop.
                await require_migration_level(pool)
            runners = _runners(settings, parts, policies, pool, stop)
        except StartupError as exc:
            log.error("startup_failed", error=str(exc))
            return 2
        # Everything built at start-up lives as long as the process: keep it out of every
        # future collection, and collect the young generation less often. Full collections of
        # 60-100 ms showed up directly in the p99 latency of the benchmark.
        gc.freeze()
        gc.set_threshold(10_000, 20, 10)
        if ops_port:
            ops = await serve_ops(ops_host, ops_port, readiness)
        tasks = [asyncio.ensure_future(r) for r in runners]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # One part ending (a watchdog exit, a crash) ends the others: the process restarts whole.
        stop.set()
        codes = []
        for task in tasks:
            try:
                codes.append(await task)
            except StartupError as exc:
                log.error("startup_failed", error=str(exc))
                codes.append(2)
            except Exception:
                log.exception("process_part_failed")
                codes.append(1)
        return max(codes)
    finally:
        if ops is not None:
            ops.cancel()
        await readiness.close()
        await pool.close()


def _runners(
    settings: Settings,
    parts: set[str],
    policies: PolicyBook,
    pool: asyncpg.Pool,
    stop: asyncio.Event,
) -> list[Coroutine[Any, Any, int]]:
    """The parts to run. StartupError when one cannot be built (the Kafka clients read their
    TLS files here)."""
    from orderstate.relay.outbox_relay import Relay
    from orderstate.worker.loop import Worker

    runners: list[Coroutine[Any, Any, int]] = []
    try:
        if "worker" in parts:
            worker = Worker(
                settings, policies, pool, stop=stop, watchdog_timeout_s=settings.watchdog_timeout_s
            )
            runners.append(worker.run())
        if "relay" in parts:
            runners.append(Relay(settings, pool, stop=stop).run())
    except StartupError:
        for runner in runners:
            runner.close()
        raise
    if "api" in parts:
        runners.append(serve_api(settings, pool, policies, stop))
    return runners


async def serve_api(
    settings: Settings,
    pool: asyncpg.Pool,
    policies: PolicyBook,
    stop: asyncio.Event,
) -> int:
    """Serve the REST API until ``stop`` is set; in-flight requests get
    ORDERSTATE_API_SHUTDOWN_TIMEOUT_S to finish."""
    from orderstate.api.app import create_api
    from orderstate.api.context import ApiContext

    app = create_api(ApiContext(settings, pool, policies, clock=lambda: datetime.now(UTC)))
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        # The API's own access log (api/access_log.py) replaces uvicorn's, which would print
        # query strings.
        access_log=False,
        lifespan="off",
        # X-Forwarded-* count only from ORDERSTATE_API_TRUSTED_PROXIES (api/forwarded.py).
        proxy_headers=False,
        timeout_graceful_shutdown=settings.api_shutdown_timeout_s,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="api")
    await stop.wait()
    server.should_exit = True
    await task
    return 0
