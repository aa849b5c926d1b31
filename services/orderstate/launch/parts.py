"""Run the long-lived parts (worker, relay, api) in one event loop until a signal or a failure."""

import asyncio
import gc
import signal

import structlog

from orderstate.domain import PolicyError
from orderstate.health.readiness import Readiness
from orderstate.launch.servers import serve_api, serve_ops
from orderstate.policy_config import read_policy_book
from orderstate.relay.outbox_relay import Relay
from orderstate.settings import Settings
from orderstate.startup import StartupError, check_kafka, open_pool, require_migration_level
from orderstate.worker.loop import Worker

__all__ = ["run_parts"]

log = structlog.get_logger("orderstate")


async def run_parts(settings: Settings, parts: set[str], ops_host: str, ops_port: int) -> int:
    """Run ``parts`` (a subset of worker, relay and api) until SIGTERM or SIGINT, or until one
    of them ends; the exit code is the worst of theirs."""
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
        if parts & {"worker", "relay"}:
            # A worker or relay on the wrong schema would fail in the middle of its work: it
            # refuses to start. The api stays up instead and reports "migrations" on /readyz,
            # which keeps it out of its Service without a crash loop. Kafka out of reach is
            # found before either part starts its clients, so it is one line, not one per
            # client with their retries; so are Kafka TLS files that cannot be used.
            try:
                await require_migration_level(pool)
                await check_kafka(
                    settings, " and ".join(p for p in ("worker", "relay") if p in parts)
                )
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
        runners = []
        if "worker" in parts:
            runners.append(
                Worker(
                    settings,
                    policies,
                    pool,
                    stop=stop,
                    watchdog_timeout_s=settings.watchdog_timeout_s,
                ).run()
            )
        if "relay" in parts:
            runners.append(Relay(settings, pool, stop=stop).run())
        if "api" in parts:
            runners.append(serve_api(settings, pool, policies, stop))
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


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
