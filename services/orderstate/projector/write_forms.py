"""The forms the write path stores in, chosen in the database, not in the code: during an
upgrade, pods of the previous release run beside this one's and must read what it writes.
A form changes only when an operator says every pod reads it (``orderstate migrate``).

- **Views with their history entries** (migration 0010) or the summary form
  (projector/stored_views.py).
- **Outbox rows by reference** (migration 0012): an order event's outbox row names its order
  event log row instead of holding a copy of its text, which halves the WAL an event costs
  between the worker and the broker (bench/results-outbox-wal.md).

Every batch reads both forms inside its transaction (projector/batch_reads.py), with a share
lock: a switch of a form waits for the batches in flight, and every batch after the switch
sees the new form.
"""

from collections.abc import Callable
from dataclasses import dataclass

from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["OUTBOX_FORM_MIGRATION", "WriteForms", "fill_outbox_text"]

# The migration that lets outbox rows name their order event log row (table outbox_form).
OUTBOX_FORM_MIGRATION = 12


@dataclass(frozen=True, slots=True)
class WriteForms:
    """The forms to store one transaction's writes in."""

    views_with_history: bool
    outbox_by_reference: bool


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
