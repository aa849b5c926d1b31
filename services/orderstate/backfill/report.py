"""What ``orderstate backfill`` prints: progress bars with an ETA, per-line messages with
their line numbers, and the summary. Messages name orders and fields, never field values
other than ids (a line may carry personal data that orderstate drops)."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from orderstate.backfill.lines import LineError

__all__ = [
    "MAX_SHOWN",
    "Tally",
    "byte_progress",
    "print_errors",
    "print_ignored",
    "print_notes",
    "print_summary",
]

# Line messages shown in full; the count of the rest is always printed.
MAX_SHOWN = 100


@dataclass
class Tally:
    lines: int = 0
    invalid: int = 0
    published: int = 0
    imported: int = 0
    already: int = 0
    skipped: int = 0
    rejected: int = 0
    pending: int = 0
    notes: list[tuple[int, str]] = field(default_factory=list)


def byte_progress(console: Console) -> Progress:
    """For reading the file: its bytes, so the ETA needs no count of lines first."""
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def print_errors(console: Console, errors: list[LineError]) -> None:
    for error in errors[:MAX_SHOWN]:
        order = f" (order {escape(error.order_id)})" if error.order_id else ""
        console.print(
            f"line {error.line_no}{order}: {escape(error.message)}", highlight=False, soft_wrap=True
        )
    if len(errors) > MAX_SHOWN:
        console.print(f"... and {len(errors) - MAX_SHOWN} more invalid lines", highlight=False)


def print_notes(console: Console, notes: Iterable[tuple[int, str]]) -> None:
    ordered = sorted(notes)
    for line_no, text in ordered[:MAX_SHOWN]:
        console.print(f"line {line_no}: {escape(text)}", highlight=False, soft_wrap=True)
    if len(ordered) > MAX_SHOWN:
        console.print(f"... and {len(ordered) - MAX_SHOWN} more", highlight=False)


def print_ignored(console: Console, ignored: Counter[str]) -> None:
    if not ignored:
        return
    names = ", ".join(f"{escape(name)} ({count})" for name, count in ignored.most_common())
    console.print(
        f"fields not imported (orderstate derives them again, or does not keep them): {names}",
        highlight=False,
        soft_wrap=True,
    )


def print_summary(console: Console, tally: Tally, *, dry_run: bool, waited: bool) -> None:
    table = Table(title="backfill (dry run: nothing published)" if dry_run else "backfill")
    table.add_column("orders")
    table.add_column("count", justify="right")
    table.add_row("lines with an order", str(tally.lines))
    if dry_run:
        table.add_row("would be imported", str(tally.published))
    elif waited:
        table.add_row("imported", str(tally.imported))
        table.add_row("rejected by the worker", str(tally.rejected))
        if tally.pending:
            table.add_row("published, not applied yet", str(tally.pending))
    else:
        table.add_row("published (not waited for)", str(tally.published))
    table.add_row("already present", str(tally.already))
    table.add_row("skipped (the shop has them)", str(tally.skipped))
    table.add_row("invalid lines", str(tally.invalid))
    console.print(table)
