"""The list statements of the time-range filters with the time indexes of migration 0001
(before) and of migration 0011 (after) on the same orders, in turns, in one run.

    PYTHONPATH=. .venv/bin/python bench/time_indexes.py --orders 1000000 --shops 10 --rounds 3

Fills a fresh database as ``make bench-api`` does (bench/api_data.py), then, per round and
per variant, builds that variant's two time indexes (timed: the write lock an upgrade holds),
VACUUM ANALYZE, and runs the EXPLAIN matrix (bench/api_explain.py) of the two time-range
filters with every order_by. Prints, per statement, the median execution time of each
variant, and the shared buffers it touched. Last, with the old indexes back, it applies
migration 0011 itself in one transaction while one connection reads and another updates an
order every 10 ms, and reports the longest wait of each. Writes a section into bench/results-api.md
unless ``--no-write``.
"""

import argparse
import asyncio
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

import api_data
import api_explain
import infra
from hotpaths import speed_probe

RESULTS = Path(__file__).with_name("results-api.md")
MIGRATION = (
    infra.REPO / "services/orderstate/projector/migrations/0011_time_range_keys_in_index.sql"
)
_READ = "SELECT view FROM orders WHERE shop_id = $1 ORDER BY order_id LIMIT 1"
_WRITE = (
    "UPDATE orders SET version = version WHERE shop_id = $1 AND order_id = "
    "(SELECT order_id FROM orders WHERE shop_id = $1 ORDER BY order_id LIMIT 1)"
)
CASES = ["order_date: a 30-day range", "updated_at: the last 7 days"]
_VARIANTS = {
    "before (0001)": [
        "CREATE INDEX {updated} ON orders (shop_id, updated_at, order_id) WHERE NOT deleted",
        "CREATE INDEX {order_date} ON orders (shop_id, order_date, order_id) WHERE NOT deleted",
    ],
    "after (0011)": [
        "CREATE INDEX {updated} ON orders (shop_id, updated_at, order_id) "
        "INCLUDE (order_date, state) WHERE NOT deleted",
        "CREATE INDEX {order_date} ON orders (shop_id, order_date, order_id) "
        "INCLUDE (updated_at, state) WHERE NOT deleted",
    ],
}
_NAMES = {"updated": "orders_shop_updated", "order_date": "orders_shop_order_date"}


async def _use(url: str, variant: str) -> tuple[float, float]:
    """Build the variant's indexes; returns seconds to build them and their size in MB."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET maintenance_work_mem = '64MB'")  # the server's default
        for name in _NAMES.values():
            await conn.execute(f"DROP INDEX IF EXISTS {name}")
        started = time.monotonic()
        for sql in _VARIANTS[variant]:
            await conn.execute(sql.format(**_NAMES))
        built = time.monotonic() - started
        await conn.execute("VACUUM (ANALYZE) orders")
        mb = await conn.fetchval(
            "SELECT sum(pg_relation_size(c.oid)) / 1048576.0 FROM pg_class c "
            "WHERE c.relname = ANY($1::text[])",
            list(_NAMES.values()),
        )
    finally:
        await conn.close()
    return built, float(mb)


async def _every_10_ms(url: str, sql: str, shop: str, stop: asyncio.Event) -> list[float]:
    """Run ``sql`` every 10 ms until ``stop``; return how long each run took, in seconds."""
    conn = await asyncpg.connect(url)
    took = []
    try:
        while not stop.is_set():
            started = time.monotonic()
            await conn.execute(sql, shop)
            took.append(time.monotonic() - started)
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return took


async def _migrate_under_load(url: str, shop: str) -> tuple[float, float, float]:
    """Migration 0011 over the old indexes, with a reader and a writer at work: its seconds,
    and the longest read and write meanwhile."""
    await _use(url, "before (0001)")
    stop = asyncio.Event()
    loops = [asyncio.create_task(_every_10_ms(url, sql, shop, stop)) for sql in (_READ, _WRITE)]
    await asyncio.sleep(1.0)
    conn = await asyncpg.connect(url)
    try:
        started = time.monotonic()
        async with conn.transaction():
            await conn.execute(MIGRATION.read_text())
        took = time.monotonic() - started
    finally:
        await conn.close()
    await asyncio.sleep(1.0)
    stop.set()
    reads, writes = await asyncio.gather(*loops)
    return took, max(reads), max(writes)


async def run(orders: int, shops: int, rounds: int, shop: str) -> str:
    ends = infra.endpoints()
    scratch = infra.Scratch(ends)
    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    buffers: dict[tuple[str, str, str], int] = {}
    builds: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, float] = {}
    probes: list[float] = []

    try:
        url = await scratch.database("time_indexes")
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        await api_data.generate(url, orders=orders, shops=shops, end=end)
        for k in range(rounds):
            variants = list(_VARIANTS) if k % 2 == 0 else list(reversed(_VARIANTS))
            for variant in variants:
                probes.append(speed_probe())
                built, sizes[variant] = await _use(url, variant)
                builds[variant].append(built)
                for result in await api_explain.matrix(url, shop, end, only=CASES):
                    statements = [("X-Total-Count", result.count), *result.pages.items()]
                    for what, plan in statements:
                        key = (result.case.label, what, variant)
                        times[key].append(plan.execution_ms)
                        buffers[key] = plan.shared_hit + plan.shared_read
                print(f"round {k + 1}, {variant}: indexes built in {built:.1f} s", flush=True)
        migrated, read_max, write_max = await _migrate_under_load(url, shop)
    finally:
        for problem in await scratch.cleanup():
            print(f"cleanup: {problem}")
    before, after = _VARIANTS
    lines = [
        "## The time indexes with the other sort columns (migration 0011), before and after",
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/time_indexes.py --orders {orders} --shops "
        f"{shops} --rounds {rounds}` on {datetime.now(UTC):%Y-%m-%d}: the same {orders:,} orders "
        f"(bench/api_data.py), shop `{shop}`, each variant's two time indexes built in turn, "
        "VACUUM ANALYZE, then the EXPLAIN matrix's statements of the two time-range filters "
        "(bench/api_explain.py, limit 20). The speed probe read "
        f"{min(probes):.1f}-{max(probes):.1f} µs.",
        "",
        f"- Building both indexes (the write lock an upgrade holds on `orders`): "
        f"{statistics.median(builds[before]):.1f} s before, "
        f"{statistics.median(builds[after]):.1f} s after (medians of {rounds}).",
        f"- Their size: {sizes[before]:.0f} MB before, {sizes[after]:.0f} MB after.",
        f"- Migration 0011 itself, in one transaction over the old indexes, while one "
        f"connection read an order and another updated one every 10 ms: {migrated:.1f} s; "
        f"the longest read {read_max * 1000:.0f} ms, the longest write {write_max:.1f} s.",
        "",
        "| filter | statement | before: ms (median), buffers | after: ms (median), buffers |",
        "| --- | --- | --- | --- |",
    ]
    for label in CASES:
        for what in ["X-Total-Count", *api_explain.ORDER_BYS]:
            b, a = (label, what, before), (label, what, after)
            if b not in times:
                continue
            lines.append(
                f"| {label} | {what if what == 'X-Total-Count' else 'page, order_by=' + what} | "
                f"{statistics.median(times[b]):.2f}, {buffers[b]:,} | "
                f"{statistics.median(times[a]):.2f}, {buffers[a]:,} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--shops", type=int, default=10)
    parser.add_argument("--shop", default="shop-03")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    text = asyncio.run(run(args.orders, args.shops, args.rounds, args.shop))
    print(text)
    if not args.no_write:
        RESULTS.write_text(RESULTS.read_text().rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
