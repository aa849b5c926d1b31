"""Run the long-lived parts (worker, relay) in one event loop until a signal or a failure."""

import asyncio
import gc

import structlog

from orderstate.domain import PolicyError
from orderstate.ops_server import serve_api, serve_ops
from orderstate.policy_config import read_policy_book
from orderstate.runtime import StartupError, open_pool, readiness_check, stop_on_signals
from orderstate.settings import Settings

__all__ = ["run_processes"]

log = structlog.get_logger("orderstate")


async def run_processes(settings: Settings, parts: set[str], ops_host: str, ops_port: int) -> int:
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
    # Everything built at start-up lives as long as the process: keep it out of every future
    # collection, and collect the young generation less often. Full collections of 60-100 ms
    # showed up directly in the p99 latency of the benchmark.
    gc.freeze()
    gc.set_threshold(10_000, 20, 10)
    ops = None
    try:
        if ops_port:
            ops = await serve_ops(ops_host, ops_port, readiness_check(settings, pool))
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
        await pool.close()
