"""`make bench`'s statement profile (bench/pipeline.py) runs apply_batch through a connection
that times every statement. It must forward every statement method apply_batch calls: when it
lacked one, the benchmark failed after ten minutes, in its last phase. It also meters each
statement's CPU on both sides, which bench/batch_cost.py reads for small batches."""

import sys
from pathlib import Path

import asyncpg

from orderstate.simulation.generator import SimConfig, generate

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import baselines
import pipeline


async def test_the_statement_profile_times_every_statement_of_apply_batch(
    database_url: str,
) -> None:
    records = list(generate(SimConfig(shops=2, orders=30, seed=3)))

    profile = await pipeline.statement_profile(database_url, records, batch=50)

    costs = {c.name: c for c in profile.statements}
    assert profile.events == len(records)
    assert profile.batches == -(-len(records) // 50)
    # Every batch here changes an order: each makes its reads in one statement.
    assert {"batch_reads", "BEGIN", "COMMIT"} <= costs.keys()
    assert costs["batch_reads"].calls == profile.batches
    # Both sides' CPU is metered: the client encodes the rows, the backend inserts them.
    rows = costs["write_batch"]
    assert rows.client_cpu_s > 0
    assert rows.server_cpu_s > 0
    assert rows.server_cpu_s < rows.wall_s + 0.01
    assert sum(c.client_cpu_s for c in profile.statements) < profile.apply_cpu_s


async def test_the_statement_profile_stops_after_max_batches(database_url: str) -> None:
    records = list(generate(SimConfig(shops=2, orders=30, seed=3)))

    profile = await pipeline.statement_profile(database_url, records, batch=1, max_batches=7)

    assert (profile.batches, profile.events) == (7, 7)
    assert {c.calls for c in profile.statements if c.name in ("BEGIN", "COMMIT")} == {7}


async def test_the_batched_upsert_baseline_is_a_statement_of_its_own(database_url: str) -> None:
    # make bench's ceiling cuts the orders part out of the worker's write statement.
    conn = await asyncpg.connect(database_url)
    try:
        statement = await conn.prepare(baselines.upsert_orders_sql())
        parameters = statement.get_parameters()
    finally:
        await conn.close()
    assert len(parameters) == 16
