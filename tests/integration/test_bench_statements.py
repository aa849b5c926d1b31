"""`make bench`'s statement profile (bench/pipeline.py) runs apply_batch through a connection
that times every statement. It must forward every statement method apply_batch calls: when it
lacked one, the benchmark failed after ten minutes, in its last phase."""

import sys
from pathlib import Path

from orderstate.simulation.generator import SimConfig, generate

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import pipeline


async def test_the_statement_profile_times_every_statement_of_apply_batch(
    database_url: str,
) -> None:
    records = list(generate(SimConfig(shops=2, orders=30, seed=3)))

    profile = await pipeline.statement_profile(database_url, records, batch=50)

    names = {name for name, _, _ in profile.statements}
    assert profile.events == len(records)
    assert profile.batches == -(-len(records) // 50)
    # Every batch here changes an order, so each reads the forms (by fetchrow).
    assert {"write_forms", "BEGIN", "COMMIT"} <= names
    calls = {name: count for name, _, count in profile.statements}
    assert calls["write_forms"] == profile.batches
