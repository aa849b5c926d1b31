"""write_batch cut to the tables a batch writes (projector/write_statement.py): the parts
kept, the parameters renumbered, and the arguments picked to match."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from orderstate.projector.queries import query
from orderstate.projector.write_statement import (
    PARTS,
    is_write_statement,
    statement_with,
    write_statement,
)

NOW = datetime(2026, 12, 5, tzinfo=UTC)
WIDTH = 100  # write_batch's parameters


def _empty() -> list[Any]:
    """write_batch's arguments for a batch that writes nothing: $1 the time, $86 the notify
    flag, $94 the consumer group, every other one an empty array."""
    arguments: list[Any] = [[] for _ in range(WIDTH)]
    arguments[0], arguments[85], arguments[93] = NOW, False, "g1"
    return arguments


def _normalised(sql: str) -> str:
    return " ".join(sql.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())


def _parameters(sql: str) -> set[int]:
    return {int(n) for n in re.findall(r"\$(\d+)", sql)}


def test_the_parts_are_write_batch_s_ctes_in_order() -> None:
    assert PARTS == (
        "orders_written",
        "items_dropped",
        "items_written",
        "shipments_dropped",
        "shipments_written",
        "history",
        "outcomes",
        "unparked",
        "parked",
        "processed",
        "rejected",
        "outbox_rows",
        "log_rows",
        "offsets",
    )


def test_every_part_kept_is_write_batch_itself() -> None:
    statement = statement_with(frozenset(PARTS))
    assert _normalised(statement.sql) == _normalised(query("write_batch"))
    assert statement.parameters == tuple(range(1, WIDTH + 1))


def test_a_state_change_writes_its_tables_only() -> None:
    # A paced batch of one state change: the order, a history entry, the processed event,
    # its outbox and log rows, and the offset.
    arguments = _empty()
    arguments[1] = ["shop-1"]  # orders
    arguments[41] = ["shop-1"]  # history
    arguments[66] = ["orders"]  # processed
    arguments[79] = ["order_event"]  # outbox
    arguments[86] = ["shop-1"]  # order events
    arguments[94] = ["orders-topic"]  # offsets
    arguments[85] = True

    statement = write_statement(arguments)

    for table in ("orders", "order_state_history", "processed_events", "outbox"):
        assert f"INSERT INTO {table} " in statement.sql
    for table in ("order_items", "order_shipments", "parked_events", "rejected_events"):
        assert table not in statement.sql
    assert "UPDATE processed_events" not in statement.sql
    # Renumbered from $1 without a gap, and each number is the argument picked for it.
    assert _parameters(statement.sql) == set(range(1, len(statement.parameters) + 1))
    picked = statement.arguments(arguments)
    assert picked[0] is NOW
    assert picked[statement.parameters.index(86)] is True
    assert picked[statement.parameters.index(94)] == "g1"
    assert picked[statement.parameters.index(2)] == ["shop-1"]
    assert len(picked) == len(statement.parameters) < WIDTH


def test_an_order_that_lost_all_its_items_keeps_the_delete_only() -> None:
    # Its new list is empty, so nothing is upserted; the delete must still run.
    arguments = _empty()
    arguments[17], arguments[18] = ["shop-1"], ["ORD-1"]  # $18-$19: orders whose items changed

    statement = write_statement(arguments)

    assert "DELETE FROM order_items" in statement.sql
    assert "INSERT INTO order_items" not in statement.sql
    # The delete compares with the (empty) new list, so it takes those arrays too.
    assert {18, 19, 20, 21, 22} <= set(statement.parameters)


def test_a_new_order_s_items_are_upserted_without_a_delete() -> None:
    # No stored order lost items ($18-$19 empty): the rows kept ($20-$22) delete nothing.
    arguments = _empty()
    arguments[19], arguments[20], arguments[21] = ["shop-1"], ["ORD-1"], ["l1"]

    statement = write_statement(arguments)

    assert "INSERT INTO order_items" in statement.sql
    assert "DELETE FROM order_items" not in statement.sql


def test_a_batch_without_rows_sends_the_notify_alone() -> None:
    statement = write_statement(_empty())
    assert statement.sql == "SELECT pg_notify('orderstate_outbox', '') WHERE $1::bool"
    assert statement.parameters == (86,)


def test_one_shape_builds_one_statement() -> None:
    # asyncpg's statement cache keys on the text: the same shape must give the same text,
    # prepared once per connection.
    first = _empty()
    first[66] = ["orders"]
    second = _empty()
    second[66] = ["shipments", "orders"]
    assert write_statement(first) is write_statement(second)
    assert is_write_statement(write_statement(first).sql)
    assert not is_write_statement(query("batch_reads"))


def test_an_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="no part \\['orders'\\]"):
        statement_with(frozenset({"orders"}))
