"""Run the long-lived parts (worker, relay, monitor, api) in one event loop until a signal or a
failure."""

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
from orderstate.readiness import Readiness, StateCheck
from orderstate.runtime import StartupError, open_pool, require_migration_level, stop_on_signals
from orderstate.settings import Settings

__all__ = ["run_processes", "serve_api"]

log = structlog.get_logger("orderstate")


async def run_processes(settings: Settings, parts: set[str], ops_host: str, ops_port: int) -> int:
    from orderstate.monitor.app import Monitor
    from orderstate.relay.outbox_relay import Relay
    from orderstate.worker.loop import Worker

    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        policies = read_policy_book(settings.policy_file)
        pool = await open_pool(settings)
    except (PolicyError, StartupError) as exc:
        log.error("startup_failed", error=str(exc))
        return 2
    monitor = Monitor(settings, policies, pool, stop=stop) if "monitor" in parts else None
    extra = [StateCheck("monitor", lambda: monitor.ready)] if monitor is not None else []
    readiness = Readiness.for_parts(parts, settings, pool, extra)
    ops = None
    try:
        if parts & {"worker", "relay", "monitor"}:
            # A worker or relay on the wrong schema would fail in the middle of its work: it
            # refuses to start. The api stays up instead and reports "migrations" on /readyz,
            # which keeps it out of its Service without a crash loop.
            try:
                await require_migration_level(pool)
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
        runners: list[Coroutine[Any, Any, int]] = []
        if "worker" in parts:
            timeout = settings.watchdog_timeout_s
            runners.append(
                Worker(settings, policies, pool, stop=stop, watchdog_timeout_s=timeout).run()
            )
        if "relay" in parts:
            runners.append(Relay(settings, pool, stop=stop).run())
        if monitor is not None:
            runners.append(monitor.run())
        if "api" in parts:
            runners.append(serve_api(settings, pool, policies, stop, readiness))
        tasks = [asyncio.ensure_future(r) for r in runners]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # One part ending (a watchdog exit, a crash) ends the others: the process restarts whole.
        stop.set()
        return max([await _exit_code(task) for task in tasks])
    finally:
        if ops is not None:
            ops.cancel()
        await readiness.close()
        await pool.close()


async def _exit_code(task: "asyncio.Future[int]") -> int:
    try:
        return await task
    except StartupError as exc:
        log.error("startup_failed", error=str(exc))
        return 2
    except Exception:
        log.exception("process_part_failed")
        return 1


async def serve_api(
    settings: Settings,
    pool: asyncpg.Pool,
    policies: PolicyBook,
    stop: asyncio.Event,
    readiness: Readiness,
) -> int:
    """Serve the REST API until ``stop`` is set; in-flight requests get
    ORDERSTATE_API_SHUTDOWN_TIMEOUT_S to finish."""
    from orderstate.api.app import create_api
    from orderstate.api.context import ApiContext

    app = create_api(
        ApiContext(settings, pool, policies, clock=lambda: datetime.now(UTC)), readiness=readiness
    )
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        # The API's own access log (api/access_log.py) replaces uvicorn's, which would print
        # query strings.
        access_log=False,
        lifespan="off",
        proxy_headers=True,
        timeout_graceful_shutdown=settings.api_shutdown_timeout_s,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="api")
    await stop.wait()
    server.should_exit = True
    await task
    return 0
