"""The replay itself: the live worker's code (``Worker``) in a consumer group of its own, over
the inbound topics from their beginning into the target database, until it has applied
everything up to the end offsets taken when the rebuild began.

The worker runs with ``markers="hold"``: it writes nothing to any topic and decides only what
the log has settled. Records at the end that wait for a silent twin partition (the live
worker settles them with a merge marker after ``ORDERSTATE_MERGE_MARKER_WAIT_MS``) are left
for that marker, or for the worker that takes the database over: settling them here could
order them differently from the live run, and the difference would stay in the rebuilt
database for good.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import TopicPartition

from orderstate.domain import PolicyBook
from orderstate.rebuild.target import stored_offsets
from orderstate.settings import Settings
from orderstate.worker.loop import Worker

__all__ = ["ReplayFailedError", "Replayed", "replay"]

_POLL_S = 0.5
# Consecutive polls that must find the end reached: the worker's fetch task may hold inputs
# it took from the merge for a moment before they count as in flight.
_CONFIRMATIONS = 2


class ReplayFailedError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Replayed:
    records: int  # offsets applied by this run (merge markers included)
    waiting: int  # offsets up to the end left for a merge marker on their twin partition
    seconds: float


async def replay(
    settings: Settings,
    policies: PolicyBook,
    pool: asyncpg.Pool,
    *,
    ends: dict[TopicPartition, int],
    on_progress: Callable[[int, int], None],
) -> Replayed:
    """Apply the inbound topics into ``settings.database_url``'s database (``pool``) up to
    ``ends``; ``on_progress(done, total)`` is called every half second."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    group = settings.consumer_group
    async with pool.acquire() as conn:
        first = await stored_offsets(conn, group)
    begin = {tp: min(first.get((tp.topic, tp.partition), 0), end) for tp, end in ends.items()}
    total = sum(end - begin[tp] for tp, end in ends.items())
    stop = asyncio.Event()
    worker = Worker(
        settings,
        policies,
        pool,
        stop=stop,
        watchdog_timeout_s=settings.watchdog_timeout_s,
        markers="hold",
    )
    task = asyncio.create_task(worker.run(), name="rebuild-worker")
    done = 0
    try:
        confirmed = 0
        while confirmed < _CONFIRMATIONS:
            await asyncio.wait({task}, timeout=_POLL_S)
            if task.done():
                code = task.result()
                raise ReplayFailedError(f"the replay's worker stopped early (exit code {code})")
            async with pool.acquire() as conn:
                stored = await stored_offsets(conn, group)
            applied = {tp: stored.get((tp.topic, tp.partition), 0) for tp in ends}
            done = sum(min(applied[tp], end) - begin[tp] for tp, end in ends.items())
            on_progress(max(done, 0), total)
            confirmed = confirmed + 1 if _reached(worker, applied, ends) else 0
    finally:
        stop.set()
        code = await task
    if code != 0:
        raise ReplayFailedError(f"the replay's worker stopped with exit code {code}")
    return Replayed(records=done, waiting=total - done, seconds=loop.time() - started)


def _reached(
    worker: Worker, applied: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> bool:
    """Every partition is applied up to its end, or what is left of it waits in the merge for
    its twin partition, which is applied up to its end: a marker on the twin (or the twin's
    next record) is what would release it. A partition paused because many of its records
    wait is left so too: its later records could only wait behind them. And no batch is on
    its way."""
    if worker.in_flight:
        return False
    waiting = worker.sequencer.waiting_by_partition()
    orders, shipments = worker.topics
    for tp, end in ends.items():
        if applied[tp] >= end:
            continue
        twin = TopicPartition(shipments if tp.topic == orders else orders, tp.partition)
        if not waiting.get(tp) or applied[twin] < ends[twin]:
            return False
    return True
