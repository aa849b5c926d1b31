"""The fetch task hands a fetch to the sequencer (which reads and decodes every record) a slice
at a time, so the batch being applied goes on between slices instead of waiting for the whole
fetch's decode; and a rebalance between two slices stops the push, because the rest of the
fetch was read from positions the rebalance moved back (bench/results-backlog-rate.md)."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

from orderstate.domain import PolicyBook
from orderstate.settings import Settings
from orderstate.worker.loop import Worker
from tests.support.hostile_records import valid_record

ORDERS = "shop.orders.v1"


@dataclass
class _Record:
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    offset: int
    topic: str = ORDERS
    partition: int = 0
    timestamp: int = 1_767_225_600_000


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    # Not started: nothing here connects to Kafka or PostgreSQL, and the push uses no pool.
    made = Worker(
        Settings(topic_orders=ORDERS),
        PolicyBook(),
        None,  # type: ignore[arg-type]
        stop=asyncio.Event(),
        watchdog_timeout_s=60,
    )
    made.sequencer.assign(0, (0, 0), (0, 0))
    yield made
    await made.consumer.stop()
    await made.writer.stop()


def _fetch(count: int) -> dict[TopicPartition, list[_Record]]:
    records = [_Record(*valid_record("shop-s", f"S-{n}", f"s-{n}"), offset=n) for n in range(count)]
    return {TopicPartition(ORDERS, 0): records}


async def test_other_tasks_run_between_the_slices_of_a_push(worker: Worker) -> None:
    seen: list[int] = []

    async def apply_meanwhile() -> None:
        while len(seen) < 3:
            seen.append(worker.sequencer.waiting)
            await asyncio.sleep(0)

    other = asyncio.create_task(apply_meanwhile())
    pushed = await worker._push(_fetch(120), worker.generation)
    await other

    assert pushed
    assert worker.sequencer.waiting == 120
    # The other task ran after the first slice (50 records read), and after the second.
    assert seen[:2] == [50, 100]


async def test_a_rebalance_between_slices_stops_the_push(worker: Worker) -> None:
    # Six partitions: most of these keys belong elsewhere, and the push finds them misplaced.
    worker.sequencer.partitions = {ORDERS: 6}

    async def rebalance() -> None:
        worker._rebalanced()

    other = asyncio.create_task(rebalance())
    pushed = await worker._push(_fetch(120), worker.generation)
    await other

    assert not pushed
    # Only the first slice went in; the rest is read again from the stored offsets.
    assert worker.sequencer.waiting == 50
    # So is the first slice: its misplaced records are not copied now, but when read again.
    assert worker.sequencer.take_forwards() == []


async def test_a_small_fetch_is_pushed_without_yielding(worker: Worker) -> None:
    ran: list[bool] = []

    async def other_task() -> None:
        ran.append(True)

    other = asyncio.create_task(other_task())
    pushed = await worker._push(_fetch(30), worker.generation)

    assert pushed
    assert worker.sequencer.waiting == 30
    assert not ran  # one slice: the push did not give the loop away
    await other
