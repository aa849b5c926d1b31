"""`make bench` compares orderstate with PostgreSQL's batched-upsert rate, measured with the
orders part of orderstate's own write statement. The benchmark holds that part as a
statement of its own: it must stay the same text as the worker's."""

import re
import sys
from pathlib import Path

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from baselines import UPSERT_ORDERS
from orderstate.projector.queries import query


def _words(sql: str, shift: int = 0) -> str:
    """The statement's tokens, with its parameter numbers moved down by ``shift``."""
    renumbered = re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) - shift}", sql)
    return " ".join(renumbered.split())


def test_the_baseline_upserts_orders_with_the_worker_s_own_statement() -> None:
    worker = query("write_batch")
    orders = worker[worker.index("INSERT INTO orders") : worker.index("), items_dropped AS")]

    # In the worker's statement $1 is the batch's time, so the orders' columns start at $2.
    assert _words(orders, shift=1) == _words(UPSERT_ORDERS)
    assert "ON CONFLICT (shop_id, order_id) DO UPDATE" in UPSERT_ORDERS
