"""`make bench` compares orderstate with PostgreSQL's batched-upsert rate, measured with the
orders part of orderstate's own write statement, cut out of it and run on its own."""

import re
import sys
from pathlib import Path

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from baselines import upsert_orders_sql


def test_the_baseline_is_the_orders_part_of_the_worker_s_statement() -> None:
    sql = upsert_orders_sql()

    assert sql.startswith("INSERT INTO orders AS o")
    assert "ON CONFLICT (shop_id, order_id) DO UPDATE SET" in sql
    assert sql.rstrip().endswith("last_sequence = EXCLUDED.last_sequence")
    # The sixteen columns of an order row, numbered from $1 as raw_upsert binds them.
    assert sorted({int(n) for n in re.findall(r"\$(\d+)", sql)}) == list(range(1, 17))
    assert "items" not in sql
