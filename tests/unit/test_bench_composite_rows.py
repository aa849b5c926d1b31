"""bench/composite_rows.py cuts write_batch's arguments into row sets, one per table's rows, to
weigh arrays of composite rows against today's arrays of columns. The cut and the arithmetic
of its report are pure; these tests hold them."""

import sys
from pathlib import Path
from typing import Any

import pytest

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import composite_rows
from composite_rows import RowSet, array_types, kept_arguments, report, row_sets
from orderstate.projector import writes
from orderstate.projector.queries import query
from orderstate.projector.write_statement import PARTS, statement_with


def test_array_types_reads_every_cast_and_refuses_two_types_for_one_parameter() -> None:
    assert array_types("unnest($2::text[], $3::bigint[]) WHERE x = $1 AND y = ANY($2::text[])") == {
        2: "text",
        3: "bigint",
    }
    with pytest.raises(ValueError, match=r"\$2 is cast to text\[\] and to int\[\]"):
        array_types("unnest($2::text[], $2::int[])")


def test_every_array_cast_in_write_batch_is_a_parameter_of_one_of_its_parts() -> None:
    # Row sets are cut per part: a typed array that no part used would never be measured.
    # (An array without a cast stops the run itself; that needs the kept arguments.)
    sql = query("write_batch")
    types = array_types(sql)
    assert types
    used = {n for part in PARTS for n in statement_with(frozenset({part})).parameters}
    assert set(types) <= used


def test_row_sets_group_columns_by_their_lengths_and_merge_parts_that_share_them() -> None:
    types = {2: "text", 3: "text", 4: "int", 5: "text", 6: "bigint", 7: "text"}
    # $1 is a scalar; $2-$4 one table's rows; $5 another's; $6 always empty; $7 the same
    # lengths as $2-$4 but used only by the second part.
    batches: list[list[Any]] = [
        [None, ["a", "b"], ["c", "d"], [1, 2], ["x"], [], ["p", "q"]],
        [None, ["e"], ["f"], [3], ["y", "z", "w"], [], ["r"]],
    ]
    parts = [("dropped", (1, 2, 3)), ("written", (2, 3, 4, 5, 6, 7))]
    assert row_sets(parts, types, batches) == [
        RowSet("dropped", (2, 3, 4, 7), ("text", "text", "int", "text")),
        RowSet("written", (5,), ("text",)),
    ]


def test_kept_arguments_keeps_each_flush_and_puts_the_statement_back() -> None:
    def current() -> Any:
        return getattr(writes, name)

    name = "write_statement"
    original = current()
    count = max(array_types(query("write_batch")))
    arguments: list[Any] = [None] + [[] for _ in range(count)]
    kept: list[list[Any]] = []
    with kept_arguments(kept):
        statement = current()(arguments)
    assert kept == [arguments]
    assert statement == original(arguments)
    assert current() is original
    with pytest.raises(RuntimeError), kept_arguments(kept):
        raise RuntimeError("a failing replay")
    assert current() is original


def test_report_gives_the_saving_per_record_and_its_share_of_the_replay() -> None:
    run: dict[str, Any] = {
        "records": 1000,
        "batch_count": 2,
        "sets": [("orders_written", ("text", "int"), 300)],
        "rows": 300,
        "values": 600,
        # Seconds per round: the medians are 0.020 / 0.005 (columns), 0.015 / 0.004 (rows).
        "timed": {
            "columns": [(0.020, 0.005), (0.023, 0.006), (0.019, 0.002)],
            "rows": [(0.015, 0.004), (0.018, 0.003), (0.014, 0.0075)],
        },
        "worker_us": 100.0,
        "backend_us": 40.0,
        "probes": [20.0, 21.0],
        "orders": 10,
        "rounds": 3,
        "head": "abc1234",
        "when": "2026-12-06 15:00 UTC",
    }
    text = report(run)
    assert "| worker (client) | 20.00 | 15.00 | 5.00 | 100.0 | 5.0% |" in text
    assert "| PostgreSQL backend | 5.00 | 4.00 | 1.00 | 40.0 | 2.5% |" in text
    assert "| orders_written | 2 | 300 |" in text
    assert "300 rows (0.30 per record) of 600 values (0.6 per record)" in text
    assert composite_rows.RESULTS.name == "results-composite-rows.md"
