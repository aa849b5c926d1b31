"""Run the long-lived parts (worker, relay, monitor, api) in one event loop until a signal or a
failure."""

import asyncio
import gc
import signal
from collections.abc import Coroutine
from typing import Any

import asyncpg
import structlog
import uvloop

from orderstate.domain import PolicyBook, PolicyError
from orderstate.health.readiness import Check, Readiness, StateCheck
from orderstate.launch.servers import serve_ops
from orderstate.policy_config import read_policy_book
from orderstate.settings import Settings
from orderstate.startup import StartupError, check_kafka, open_pool, require_migration_level

__all__ = ["GC_THRESHOLDS", "run_parts", "serve"]

# The young generation collected every 10,000 net allocations instead of 700 (see run_parts).
GC_THRESHOLDS = (10_000, 20, 10)

log = structlog.get_logger("orderstate")


def serve(settings: Settings, parts: set[str], ops_host: str, ops_port: int) -> int:
    """``run_parts`` on the event loop ORDERSTATE_EVENT_LOOP names. uvloop does the loop's
    own work (callbacks, socket reads and writes, timers) in C; bench/results.md has what it
    saves per record."""
    factory = uvloop.new_event_loop if settings.event_loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(run_parts(settings, parts, ops_host, ops_port))


async def run_parts(settings: Settings, parts: set[str], ops_host: str, ops_port: int) -> int:
    """Run ``parts`` (a subset of worker, relay, monitor and api) until SIGTERM or SIGINT, or
    until one of them ends; the exit code is the worst of theirs."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        policies = read_policy_book(settings.policy_file)
        pool = await open_pool(settings)
    except (PolicyError, StartupError) as exc:
        log.error("startup_failed", error=str(exc))
        return 2
    monitor = None
    extra: list[Check] = []
    if "monitor" in parts:
        # faust-streaming is loaded only by a process that runs the monitor.
        from orderstate.monitor.app import Monitor

        monitor = Monitor(settings, policies, pool, stop=stop)
        extra.append(StateCheck("monitor", lambda: monitor.ready))
    api_listening = asyncio.Event()
    if "api" in parts:
        extra.append(StateCheck("api", api_listening.is_set))
    readiness = Readiness.for_parts(parts, settings, pool, extra)
    ops = None
    try:
        if parts & {"worker", "relay", "monitor"}:
            # A worker, relay or monitor on the wrong schema would fail in the middle of its
            # work: it refuses to start. The api stays up instead and reports "migrations" on
            # /readyz, which keeps it out of its Service without a crash loop. Kafka out of
            # reach is found before any part starts its clients, so it is one line, not one
            # per client with their retries; so are Kafka TLS files that cannot be used.
            try:
                await require_migration_level(pool)
                await check_kafka(
                    settings,
                    " and ".join(p for p in ("worker", "relay", "monitor") if p in parts),
                )
            except StartupError as exc:
                log.error("startup_failed", error=str(exc))
                return 2
        if ops_port:
            ops = await serve_ops(ops_host, ops_port, readiness)
        runners = _pipeline_parts(settings, parts, policies, pool, stop)
        if monitor is not None:
            runners.append(monitor.run())
        if "api" in parts:
            # FastAPI, the routes and the console too are loaded only by a process that serves.
            from orderstate.launch.api_server import serve_api

            runners.append(serve_api(settings, pool, policies, stop, api_listening))
        # Everything built at start-up, the parts' code included (imported just above), lives
        # as long as the process: keep it out of every future collection, and collect the
        # young generation less often. Full collections of 60-100 ms showed up directly in the
        # p99 latency of the benchmark.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
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


def _pipeline_parts(
    settings: Settings,
    parts: set[str],
    policies: PolicyBook,
    pool: asyncpg.Pool,
    stop: asyncio.Event,
) -> list[Coroutine[Any, Any, int]]:
    """The worker and relay of ``parts``, ready to run. Each part's code is imported only by a
    process that runs it: a relay loads neither the worker nor FastAPI, which saves start-up
    time and memory (bench/results-startup.md)."""
    runners: list[Coroutine[Any, Any, int]] = []
    if "worker" in parts:
        from orderstate.worker.loop import Worker

        worker = Worker(
            settings, policies, pool, stop=stop, watchdog_timeout_s=settings.watchdog_timeout_s
        )
        runners.append(worker.run())
    if "relay" in parts:
        from orderstate.relay.outbox_relay import Relay

        runners.append(Relay(settings, pool, stop=stop).run())
    return runners


async def _exit_code(task: "asyncio.Future[int]") -> int:
    try:
        return await task
    except StartupError as exc:
        log.error("startup_failed", error=str(exc))
        return 2
    except Exception:
        log.exception("process_part_failed")
        return 1


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
