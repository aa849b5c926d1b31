"""``orderstate backfill FILE``: check the whole file, find what the shop already has, publish
the rest to the inbound orders topic in one transaction, and optionally wait for the worker.

Nothing here writes to PostgreSQL: the worker decides each ``order.imported`` record like any
other inbound event, so a rebuild from the inbound topics reproduces the imported orders.
Exit codes (README, "Backfill"):

- 0: every order of the file is imported (or was already);
- 1: invalid lines, nothing published (unless ``--skip-invalid``);
- 2: usage or configuration error (typer, settings);
- 3: done, but some orders were not imported: the shop already has them (skipped, or
  rejected by the worker when it got them first), or invalid lines under ``--skip-invalid``;
- 4: PostgreSQL or Kafka out of reach, or the publish failed: nothing published;
- 5: ``--wait`` timed out: everything is published, the worker has not applied it all yet.
"""

import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import asyncpg
from aiokafka.errors import KafkaError
from rich.console import Console

from orderstate.api.compat.reading import Reading
from orderstate.backfill import report, store
from orderstate.backfill.publish import publish
from orderstate.backfill.scan import Limits, Planned, Scan, scan
from orderstate.domain import PolicyBook
from orderstate.progress import count_progress
from orderstate.projector import migrate as migrations
from orderstate.projector.connection import DATABASE_DOWN
from orderstate.settings import Settings
from orderstate.startup import CONNECT_ERRORS, StartupError, connect_failure, connect_once

__all__ = [
    "EXIT_INVALID",
    "EXIT_NOT_ALL",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_WAIT_TIMEOUT",
    "Options",
    "backfill",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_NOT_ALL = 3
EXIT_UNREACHABLE = 4
EXIT_WAIT_TIMEOUT = 5
_POLL_S = 0.2
_DB_FAILURES: tuple[type[Exception], ...] = (asyncpg.PostgresError, *DATABASE_DOWN)


@dataclass(frozen=True, slots=True)
class Options:
    path: Path
    shop_id: str
    reading: Reading
    emit: bool = False
    dry_run: bool = False
    skip_invalid: bool = False
    wait: bool = False
    timeout_s: float = 600.0


class _Unreachable(Exception):
    pass


async def backfill(
    settings: Settings, options: Options, policies: PolicyBook, out: Console, err: Console
) -> int:
    # The checked records, ready to send; deleted when the run ends, however it ends.
    with tempfile.TemporaryFile(prefix="orderstate-backfill-") as spool:
        return await _run(settings, options, policies, spool, out=out, err=err)


async def _run(
    settings: Settings,
    options: Options,
    policies: PolicyBook,
    spool: IO[bytes],
    *,
    out: Console,
    err: Console,
) -> int:
    limits = Limits(settings.max_payload_bytes, settings.max_event_bytes)
    checked = _check(options, limits, policies, spool, out)
    tally = report.Tally(lines=checked.orders, invalid=len(checked.errors))
    report.print_errors(err, checked.errors)
    report.print_ignored(out, checked.ignored)
    if checked.errors and not options.skip_invalid:
        err.print(
            f"{len(checked.errors)} of {checked.orders} lines are invalid: nothing was "
            "published (fix them, or import the others with --skip-invalid)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_INVALID
    try:
        conn = await _connect(settings)
    except _Unreachable as exc:
        err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        return EXIT_UNREACHABLE
    try:
        return await _import(
            settings,
            options,
            checked=checked,
            spool=spool,
            tally=tally,
            conn=conn,
            out=out,
            err=err,
        )
    finally:
        await conn.close()


def _check(
    options: Options, limits: Limits, policies: PolicyBook, spool: IO[bytes], out: Console
) -> Scan:
    with report.byte_progress(out) as progress:
        task = progress.add_task("checking", total=options.path.stat().st_size)
        return scan(
            options.path,
            shop_id=options.shop_id,
            reading=options.reading,
            emit=options.emit,
            limits=limits,
            policies=policies,
            now=datetime.now(UTC),
            spool=spool,
            advance=lambda n: progress.advance(task, n),
        )


async def _import(
    settings: Settings,
    options: Options,
    *,
    checked: Scan,
    spool: IO[bytes],
    tally: report.Tally,
    conn: asyncpg.Connection,
    out: Console,
    err: Console,
) -> int:
    try:
        found = await store.present(conn, options.shop_id, checked.planned)
    except _DB_FAILURES as exc:
        err.print(
            f"PostgreSQL failed while checking the shop's orders ({type(exc).__name__}); "
            "nothing was published",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_UNREACHABLE
    todo: list[Planned] = []
    for planned in checked.planned:
        there = found.get(planned.order_id)
        if there is None:
            todo.append(planned)
        elif there.imported:
            tally.already += 1
        else:
            tally.skipped += 1
            gone = ", deleted" if there.deleted else ""
            tally.notes.append(
                (
                    planned.line_no,
                    f"order {planned.order_id} skipped: the shop already has it (version "
                    f"{there.version}, '{there.state}'{gone}); an import never overwrites an "
                    "order",
                )
            )
    tally.published = len(todo)
    if options.dry_run or not todo:
        return _finish(options, tally, out, err, waited=options.wait and not options.dry_run)
    try:
        with count_progress(out) as progress:
            task = progress.add_task("publishing", total=len(todo))
            await publish(
                settings,
                spool,
                shop_id=options.shop_id,
                event_ids={p.event_id for p in todo},
                advance=lambda n: progress.advance(task, n),
            )
    except (StartupError, KafkaError) as exc:
        err.print(
            f"{exc}; nothing was published (the transaction was aborted)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_UNREACHABLE
    if not options.wait:
        return _finish(options, tally, out, err, waited=False)
    timed_out = await _wait(conn, options, todo, tally, out)
    code = _finish(options, tally, out, err, waited=True)
    if timed_out:
        err.print(
            f"{tally.pending} published orders were not applied within {options.timeout_s:g} s; "
            "is the worker running? They are published and will be applied; the same command "
            "run again later reports them as already present",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_WAIT_TIMEOUT
    return code


async def _wait(
    conn: asyncpg.Connection,
    options: Options,
    todo: list[Planned],
    tally: report.Tally,
    out: Console,
) -> bool:
    """Until the worker has decided every published import; True if the time ran out."""
    ids = [p.event_id for p in todo]
    deadline = time.monotonic() + options.timeout_s
    outcomes: dict[str, str] = {}
    with count_progress(out) as progress:
        task = progress.add_task("applying", total=len(ids))
        while True:
            missing = [i for i in ids if i not in outcomes]
            outcomes.update(await store.decided(conn, missing))
            progress.update(task, completed=len(outcomes))
            if len(outcomes) == len(ids) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(_POLL_S)
    rejected = [p for p in todo if outcomes.get(p.event_id) == "rejected"]
    why = await store.rejections(conn, options.shop_id, [p.event_id for p in rejected])
    for planned in rejected:
        found = why.get(planned.event_id)
        text = f"{found.reason}: {found.message}" if found else "rejected"
        tally.notes.append((planned.line_no, f"order {planned.order_id} {text}"))
    tally.rejected = len(rejected)
    tally.pending = len(ids) - len(outcomes)
    tally.imported = len(outcomes) - len(rejected)
    return tally.pending > 0


def _finish(
    options: Options, tally: report.Tally, out: Console, err: Console, *, waited: bool
) -> int:
    report.print_notes(err, tally.notes)
    report.print_summary(out, tally, dry_run=options.dry_run, waited=waited)
    if tally.published == 0 and not options.dry_run:
        out.print("nothing to publish: every valid order is already present or skipped")
    if tally.skipped or tally.rejected or tally.invalid:
        return EXIT_NOT_ALL
    return EXIT_OK


async def _connect(settings: Settings) -> asyncpg.Connection:
    try:
        conn = await connect_once(settings, connect_timeout_s=10)
    except CONNECT_ERRORS as exc:
        raise _Unreachable(
            f"cannot connect to PostgreSQL: {connect_failure(exc)}; nothing was published"
        ) from None
    found = await migrations.level(conn)
    if not found.usable:
        await conn.close()
        raise _Unreachable(f"{found.describe()}; nothing was published")
    return conn
