"""The forms the write path stores in, chosen in the database, not in the code: during an
upgrade, pods of the previous release run beside this one's and must read what it writes.
A form changes only when an operator says every pod reads it (``orderstate migrate``).

- **Views with their history entries** (migration 0010) or the summary form
  (projector/stored_views.py).
- **Outbox rows by reference** (migration 0012): an order event's outbox row names its order
  event log row instead of holding a copy of its text, which halves the WAL an event costs
  between the worker and the broker (bench/results-outbox-wal.md).
"""

from collections.abc import Callable
from dataclasses import dataclass

from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["OUTBOX_FORM_MIGRATION", "WriteForms", "fill_outbox_text", "write_forms"]

# The migration that lets outbox rows name their order event log row (table outbox_form).
OUTBOX_FORM_MIGRATION = 12


@dataclass(frozen=True, slots=True)
class WriteForms:
    views_with_history: bool
    outbox_by_reference: bool


async def write_forms(conn: Conn) -> WriteForms:
    """The forms to store this transaction's writes in. Call it inside that transaction: its
    share lock makes a switch of a form wait for the batches in flight, and every batch after
    the switch sees the new form."""
    row = await conn.fetchrow(query("write_forms"))
    if row is None:
        raise RuntimeError("the tables view_form and outbox_form must hold their one row")
    return WriteForms(row["with_history"], row["by_reference"])


async def fill_outbox_text(
    conn: Conn, advance: Callable[[int], None], chunk: int = 1000
) -> tuple[int, int]:
    """Switch the outbox to rows with their text, then write the text into every row not sent
    yet that has none, a chunk of rows per transaction, calling ``advance`` with each chunk's
    size. Returns how many rows got their text and how many could not (their order event log
    row is missing: the relay dead-letters those). Before a rollback past migration 0012: the
    relays of a release before it read the text only."""
    async with conn.transaction():
        # Waits for the batches in flight; every batch after it writes the text again.
        await conn.execute(query("set_outbox_form"), False)
    after, filled, looked_at = 0, 0, 0
    while True:
        async with conn.transaction():
            row = await conn.fetchrow(query("outbox_fill_text"), after, chunk)
        if row is None or row["last"] is None:
            return filled, looked_at - filled
        filled += row["filled"]
        looked_at += row["looked_at"]
        advance(row["looked_at"])
        after = row["last"]
