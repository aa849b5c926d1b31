"""Does an event cost more on an order with a long history? (issue: "an order with 200 changes
costs the same per event as an order with 5").

Two groups of orders in one migrated database: short ones with 5 changes (created and four
states) and long ones with ``long_changes`` (the same, then states that arrive late: each is
an accepted change, recorded in the history and published). Then, in rounds that alternate
between the groups, one more late state per order, one batch per group and round, through
apply_batch in this process on a real PostgreSQL, as the worker applies a batch. The figure
is the wall time of apply_batch per event (Python and SQL round trips; no Kafka), short
against long, and the ratio. Run alone with
``PYTHONPATH=. .venv/bin/python bench/history_scaling.py``
(Kafka is not needed; PostgreSQL from `make services-up`).
"""

import asyncio
import itertools
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from orderstate.domain import PolicyBook
from orderstate.projector.apply import apply_batch
from orderstate.projector.inputs import Incoming
from tests.support.events import created, logged, state

_STATES = ("paid", "in_production", "warehouse_handover", "in_preparation")


@dataclass(frozen=True)
class HistoryScaling:
    orders: int  # per group
    short_changes: int
    long_changes: int
    rounds: int
    short_us: list[float]  # per round: apply_batch wall µs per event
    long_us: list[float]
    setup_s: float

    @property
    def short_median(self) -> float:
        return statistics.median(self.short_us)

    @property
    def long_median(self) -> float:
        return statistics.median(self.long_us)

    @property
    def ratio(self) -> float:
        return self.long_median / self.short_median


class _Events:
    """The tests' event builders, at increasing log offsets."""

    def __init__(self) -> None:
        self.offsets = itertools.count()

    def created(self, order: str) -> Incoming:
        return logged(created(order=order), next(self.offsets))

    def state(self, order: str, value: str, minutes: float) -> Incoming:
        return logged(state(value, order=order, minutes=minutes), next(self.offsets))

    def late(self, order: str, n: int) -> Incoming:
        """A paid state older than the order's current one: accepted, recorded as late."""
        return self.state(order, "paid", 0.5 + n * 1e-4)


def _chunks(items: list[Incoming], size: int) -> Iterator[list[Incoming]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _apply(conn: asyncpg.Connection, inputs: list[Incoming]) -> float:
    started = time.perf_counter()
    await apply_batch(conn, inputs, policies=PolicyBook(), now=datetime.now(UTC))
    return time.perf_counter() - started


async def measure(
    url: str,
    *,
    orders: int = 200,
    short_changes: int = 5,
    long_changes: int = 200,
    rounds: int = 10,
    batch: int = 500,
) -> HistoryScaling:
    events = _Events()
    short = [f"SHORT-{n}" for n in range(orders)]
    long = [f"LONG-{n}" for n in range(orders)]
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        # One change per order and batch, as live traffic spreads over orders.
        setup: list[Incoming] = [events.created(o) for o in (*short, *long)]
        for i, value in enumerate(_STATES):
            setup += [events.state(o, value, i + 1) for o in (*short, *long)]
        for n in range(long_changes - short_changes):
            setup += [events.late(o, n) for o in long]
        for chunk in _chunks(setup, batch):
            await _apply(conn, chunk)
        setup_s = time.perf_counter() - started
        rows = await conn.fetch(
            "SELECT order_id LIKE 'LONG-%', min(n) FROM "
            "(SELECT order_id, count(*) AS n FROM order_state_history GROUP BY 1) h GROUP BY 1"
        )
        lengths: dict[bool, int] = {row[0]: row[1] for row in rows}
        if lengths.get(False) != short_changes or lengths.get(True) != long_changes:
            raise RuntimeError(f"history lengths {lengths}, wanted {short_changes}/{long_changes}")
        short_us: list[float] = []
        long_us: list[float] = []
        for r in range(rounds):
            n = long_changes + r
            # Alternate which group goes first: a drift of the machine's speed falls on both.
            groups = [(short, short_us), (long, long_us)]
            for names, out in groups if r % 2 == 0 else reversed(groups):
                seconds = await _apply(conn, [events.late(o, n) for o in names])
                out.append(seconds / len(names) * 1e6)
    finally:
        await conn.close()
    return HistoryScaling(orders, short_changes, long_changes, rounds, short_us, long_us, setup_s)


def table(h: HistoryScaling) -> str:
    return "\n".join(
        [
            "| orders' changes before | events | apply_batch wall µs per event, median of "
            f"{h.rounds} rounds (min-max) |",
            "|---|---|---|",
            f"| {h.short_changes} | {h.orders * h.rounds:,} | {h.short_median:,.0f} "
            f"({min(h.short_us):,.0f}-{max(h.short_us):,.0f}) |",
            f"| {h.long_changes} | {h.orders * h.rounds:,} | {h.long_median:,.0f} "
            f"({min(h.long_us):,.0f}-{max(h.long_us):,.0f}) |",
        ]
    )


async def _main() -> None:
    import infra  # noqa: PLC0415 -- only when run alone: bench/run.py brings its own scratch

    scratch = infra.Scratch(infra.endpoints())
    try:
        url = await scratch.database("history")
        result = await measure(url)
    finally:
        await scratch.drop_databases()
    print(table(result))
    print(f"long / short: {result.ratio:.2f}x (setup {result.setup_s:.0f} s)")


if __name__ == "__main__":
    asyncio.run(_main())
