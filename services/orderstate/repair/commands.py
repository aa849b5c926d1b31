"""The typer commands ``orderstate redrive`` and ``orderstate policy check``.

``register`` adds them to the ``orderstate`` app; the app passes how it reads settings and
how it fails, so these commands report errors like every other. Heavy imports happen inside
the commands, so ``orderstate --help`` stays fast.
"""

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import asyncpg

    from orderstate.domain import OrderView, PolicyBook
    from orderstate.repair.redrive import OrderResult, Selection
    from orderstate.repair.redrive_plan import Excluded
    from orderstate.repair.replay import Outcome
    from orderstate.settings import Settings

__all__ = [
    "EXIT_DIFFERENT",
    "EXIT_INVALID",
    "EXIT_PUBLISH_FAILED",
    "EXIT_UNDECIDED",
    "EXIT_UNREACHABLE",
    "register",
]

# Exit codes (also in each command's help and in docs/redrive.md).
EXIT_UNDECIDED = 1  # redrive: published, but --wait ended before the worker decided them all
EXIT_DIFFERENT = 1  # policy check: the proposed policy decides some events differently
EXIT_INVALID = 2  # bad arguments, an invalid policy file or configuration
EXIT_UNREACHABLE = 3  # PostgreSQL or Kafka out of reach, database not migrated, topics missing
EXIT_PUBLISH_FAILED = 4  # redrive: appending failed part way; running it again is safe

Fail = Callable[[str, int], typer.Exit]


def register(app: typer.Typer, settings: "Callable[[], Settings]", fail: Fail) -> None:
    policy_app = typer.Typer(help="Check a proposed policy file before deploying it.")
    app.add_typer(policy_app, name="policy")

    @app.command("redrive")
    def redrive(  # noqa: PLR0917 -- typer passes every option of the command
        shop: Annotated[
            list[str] | None, typer.Option("--shop", help="Only this shop (repeatable).")
        ] = None,
        reason: Annotated[
            list[str] | None,
            typer.Option("--reason", help="Only rejections with this reason code (repeatable)."),
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(help="Only rejections recorded at or after: 7d, 36h, 90m or RFC 3339."),
        ] = None,
        until: Annotated[
            str | None, typer.Option(help="Only rejections recorded before this moment.")
        ] = None,
        expired_parked: Annotated[
            bool,
            typer.Option(
                "--expired-parked",
                help="Only shipment events that expired waiting for their order.",
            ),
        ] = False,
        include_api: Annotated[
            bool,
            typer.Option(
                "--include-api",
                help="Also REST requests that were answered 409 (left out by default).",
            ),
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="Append nothing: print what deciding them again under the current policy "
                "(ORDERSTATE_POLICY_FILE) would do, order by order.",
            ),
        ] = False,
        wait: Annotated[
            float,
            typer.Option(
                min=0,
                help="Seconds to wait for the worker to decide the redriven events and print "
                "what it did (0: do not wait).",
            ),
        ] = 60,
    ) -> None:
        """Append rejected events, or parked shipment events that expired, to the inbound
        topics again, so the worker decides them again under today's policy and code; with
        their original event time and data, and a new id (docs/redrive.md).

        Exit codes: 0 done (also when nothing matched); 1 published, but the worker had not
        decided all of them within --wait (running it again is safe); 2 bad arguments or an
        invalid policy file or configuration; 3 PostgreSQL or Kafka out of reach, or the
        database not migrated; 4 appending failed part way (running it again is safe).
        """
        from orderstate.domain import ReasonCode
        from orderstate.repair.redrive import Selection

        loaded = settings()
        now = _now()
        known = {r.value for r in ReasonCode}
        unknown = sorted(set(reason or ()) - known)
        if unknown:
            raise fail(
                f"--reason {', '.join(unknown)}: not a reason code; codes are "
                f"{', '.join(sorted(known))}",
                EXIT_INVALID,
            )
        selection = Selection(
            shops=tuple(shop or ()),
            reasons=tuple(reason or ()),
            since=_moment(since, "--since", now, fail),
            until=_moment(until, "--until", now, fail),
            expired_only=expired_parked,
            include_api=include_api,
        )
        policies = _policies(loaded.policy_file, fail, "ORDERSTATE_POLICY_FILE")
        code = asyncio.run(_redrive(loaded, selection, policies, dry_run, wait, now, fail))
        raise typer.Exit(code)

    @policy_app.command("check")
    def policy_check(
        file: Annotated[Path, typer.Argument(help="The proposed policy file (JSON or YAML).")],
        since: Annotated[
            str, typer.Option(help="Events since: 7d, 36h, 90m or an RFC 3339 time.")
        ] = "7d",
        shop: Annotated[
            list[str] | None,
            typer.Option("--shop", help="Check this shop (repeatable) [default: the file's shops]"),
        ] = None,
        limit: Annotated[int, typer.Option(min=0, help="How many differing events to list.")] = 20,
    ) -> None:
        """Decide the recent events of the shops a proposed policy file names under the current
        policy (ORDERSTATE_POLICY_FILE) and under the proposed one, and report what would be
        accepted or rejected differently. Reads only: writes nothing anywhere.

        Exit codes: 0 no event would be decided differently; 1 some would (listed); 2 bad
        arguments, or the proposed or current policy file is invalid; 3 PostgreSQL or Kafka
        out of reach, the database not migrated, or the inbound topics missing.
        """
        loaded = settings()
        now = _now()
        moment = _moment(since, "--since", now, fail)
        assert moment is not None  # noqa: S101 -- given, so parsed
        proposed = _policies(file, fail, str(file))
        current = _policies(loaded.policy_file, fail, "ORDERSTATE_POLICY_FILE")
        shops = sorted(set(shop or ()) or set(proposed.shops))
        if not shops:
            raise fail(
                f"{file} names no shop under 'shops'; name the shops to check with --shop",
                EXIT_INVALID,
            )
        code = asyncio.run(
            _policy_check(loaded, file, current, proposed, shops, moment, limit, fail)
        )
        raise typer.Exit(code)


def _now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def _moment(text: str | None, option: str, now: datetime, fail: Fail) -> datetime | None:
    from orderstate.repair.times import parse_moment

    if text is None:
        return None
    try:
        return parse_moment(text, now=now)
    except ValueError as exc:
        raise fail(f"{option}: {exc}", EXIT_INVALID) from None


def _policies(path: Path | None, fail: Fail, what: str) -> "PolicyBook":
    from orderstate.domain import PolicyError
    from orderstate.policy_config import read_policy_book

    try:
        return read_policy_book(path)
    except PolicyError as exc:
        # Errors reading the file name it; errors in a table name the table, not the file.
        message = str(exc) if str(path) in str(exc) else f"{what}: {exc}"
        raise fail(message, EXIT_INVALID) from None


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _iso(moment: datetime) -> str:
    if moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat(timespec="seconds")


def _kafka_files_usable(settings: "Settings", fail: Fail) -> None:
    """Exit 2 naming the setting when the Kafka TLS files cannot be used (unreadable, or a
    wrong key password), before any work: found where the Kafka client is made, it was a
    traceback with exit 1, which means something else for both commands."""
    from orderstate.kafka_client import KafkaTlsFilesError, kafka_options

    try:
        kafka_options(settings, role="repair")
    except KafkaTlsFilesError as exc:
        raise fail(str(exc), EXIT_INVALID) from None


async def _connect(settings: "Settings", fail: Fail) -> "asyncpg.Connection":

    from orderstate.projector import migrate as migrations
    from orderstate.startup import CONNECT_ERRORS, connect_failure, connect_once

    try:
        conn = await connect_once(settings)
    except CONNECT_ERRORS as exc:
        raise fail(
            f"cannot connect to PostgreSQL: {connect_failure(exc)}", EXIT_UNREACHABLE
        ) from None
    found = await migrations.level(conn)
    if found.usable:
        return conn
    await conn.close()
    if found.database == 0:
        raise fail(
            "the database has no orderstate tables yet; run `orderstate migrate` first",
            EXIT_UNREACHABLE,
        )
    raise fail(found.describe(), EXIT_UNREACHABLE)


async def _redrive(  # noqa: PLR0917 -- the command's options, passed on
    settings: "Settings",
    selection: "Selection",
    policies: "PolicyBook",
    dry_run: bool,
    wait_s: float,
    now: datetime,
    fail: Fail,
) -> int:
    from rich.console import Console

    from orderstate.progress import count_progress
    from orderstate.repair import redrive as rd
    from orderstate.startup import StartupError

    console = Console(stderr=True)
    if not dry_run:
        _kafka_files_usable(settings, fail)
    conn = await _connect(settings, fail)
    try:
        redrives, excluded = await rd.select(conn, selection)
        typer.echo(_describe_selection(selection, len(redrives) + len(excluded)))
        for line in _exclusion_lines(excluded):
            typer.echo(line)
        if not redrives:
            typer.echo("nothing to redrive")
            return 0
        keys = sorted({r.key for r in redrives})
        before = await rd.order_states(conn, keys, redrives)
        predicted = rd.predict(redrives, before, policies, now)
        if dry_run:
            typer.echo(
                f"dry run: {_n(len(redrives), 'event')} decided again under "
                f"{_policy_name(settings)}; nothing appended"
            )
            for line in _result_lines(predicted):
                typer.echo(line)
            typer.echo(_summary("predicted", predicted))
            return 0
        with count_progress(console) as bar:
            task = bar.add_task("appending", total=len(redrives))
            try:
                await rd.publish(settings, redrives, lambda n: bar.advance(task, n))
            except StartupError as exc:
                raise fail(str(exc), EXIT_UNREACHABLE) from None
            except rd.PublishError as exc:
                raise fail(
                    f"{exc}; running the same redrive again is safe", EXIT_PUBLISH_FAILED
                ) from None
        typer.echo(f"appended {_n(len(redrives), 'event')} to the inbound topics")
        if wait_s <= 0:
            typer.echo(
                "not waiting for the worker (--wait 0): it decides them when it gets to them; "
                "once it has, the same command leaves them out as already redriven"
            )
            return 0
        with count_progress(console) as bar:
            task = bar.add_task("deciding", total=len(redrives))
            outcomes = await rd.wait_decided(
                conn, redrives, wait_s, lambda n: bar.update(task, completed=n)
            )
        after = await rd.order_states(conn, keys)
        results = _decided_results(predicted, outcomes, after)
        for line in _result_lines(results):
            typer.echo(line)
        typer.echo(_summary("decided", results))
        missing = len(redrives) - len(outcomes)
        if missing:
            typer.echo(
                f"the worker has not decided {missing} of them within {wait_s:g} s; is it "
                "running? They are appended: it decides them when it gets to them."
            )
            return EXIT_UNDECIDED
        return 0
    finally:
        await conn.close()


def _policy_name(settings: "Settings") -> str:
    if settings.policy_file is None:
        return "the built-in default policy"
    return f"{settings.policy_file} (ORDERSTATE_POLICY_FILE)"


def _describe_selection(selection: "Selection", matched: int) -> str:
    parts = [
        f"shops {', '.join(selection.shops)}" if selection.shops else "every shop",
        f"reasons {', '.join(selection.reasons)}" if selection.reasons else "every reason",
    ]
    if selection.since is not None:
        parts.append(f"recorded since {_iso(selection.since)}")
    if selection.until is not None:
        parts.append(f"recorded before {_iso(selection.until)}")
    if selection.expired_only:
        parts.append("expired parked events only")
    return f"selected {_n(matched, 'rejection')} ({'; '.join(parts)})"


def _exclusion_lines(excluded: "list[Excluded]") -> list[str]:
    from orderstate.repair.redrive_plan import EXCLUSION_TEXT

    counts = Counter(e.why for e in excluded)
    return [f"left out {n}: {EXCLUSION_TEXT[why]}" for why, n in sorted(counts.items())]


def _result_lines(results: "list[OrderResult]") -> list[str]:
    lines = []
    for result in results:
        shop, order = result.key
        lines.append(f"{shop}:{order}  {result.before or '(none)'} -> {result.after or '(none)'}")
        for redrive, outcome in result.events:
            c = redrive.candidate
            was = f"{c.reason}{' (expired parked)' if c.expired else ''}"
            label = outcome.label if outcome is not None else "not decided yet"
            lines.append(
                f"  {redrive.original.id}  {redrive.event.type}  was {was} at "
                f"{_iso(c.rejected_at)}  ->  {label}"
            )
    return lines


def _summary(what: str, results: "list[OrderResult]") -> str:
    counts = Counter(
        o.label if o is not None else "not decided yet" for r in results for _, o in r.events
    )
    events = sum(counts.values())
    shown = ", ".join(
        f"{label} {n}" for label, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    )
    return f"{what}: {_n(events, 'event')} of {_n(len(results), 'order')}: {shown}"


def _decided_results(
    predicted: "list[OrderResult]",
    outcomes: "dict[tuple[str, str], Outcome]",
    after: "dict[tuple[str, str], OrderView]",
) -> "list[OrderResult]":
    from orderstate.repair.redrive import OrderResult

    results = []
    for p in predicted:
        view = after.get(p.key)
        result = OrderResult(p.key, p.before, None if view is None or view.deleted else view.state)
        result.events = [(r, outcomes.get((r.event.source, r.event.id))) for r, _ in p.events]
        results.append(result)
    return results


async def _policy_check(  # noqa: PLR0917 -- the command's arguments, passed on
    settings: "Settings",
    file: Path,
    current: "PolicyBook",
    proposed: "PolicyBook",
    shops: list[str],
    since: datetime,
    limit: int,
    fail: Fail,
) -> int:
    from rich.console import Console

    from orderstate.progress import count_progress
    from orderstate.repair.policy_check import TopicsMissingError, read_window, starting_points
    from orderstate.repair.policy_diff import compare
    from orderstate.startup import StartupError

    console = Console(stderr=True)
    _kafka_files_usable(settings, fail)
    conn = await _connect(settings, fail)
    try:
        with count_progress(console) as bar:
            task = bar.add_task("reading", total=None)
            try:
                window = await read_window(
                    settings,
                    set(shops),
                    since,
                    on_total=lambda n: bar.update(task, total=n),
                    advance=lambda n: bar.advance(task, n),
                )
            except StartupError as exc:
                raise fail(str(exc), EXIT_UNREACHABLE) from None
            except TopicsMissingError as exc:
                raise fail(str(exc), EXIT_UNREACHABLE) from None
        # One snapshot of the log for every order's starting point.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            windows, not_kept = await starting_points(conn, window, since)
    finally:
        await conn.close()
    result = compare(windows, current, proposed)
    typer.echo(
        f"policy check: {file} (proposed) against the current policy, {_policy_name(settings)}"
    )
    typer.echo(
        f"events since {_iso(since)}: {window.records} records of the inbound topics read, "
        f"shops {', '.join(shops)}"
    )
    for partition in window.cut_partitions:
        typer.echo(
            f"warning: {partition} no longer holds its records from before its first kept "
            "one, which is inside the window: older events of the window may be missing"
        )
    if not_kept:
        typer.echo(
            f"left out {_n(len(not_kept), 'order')} whose event log does not reach back to the "
            "window (orders older than migration 8)"
        )
    for shop in shops:
        differing = sum(1 for d in result.differences if d.shop_id == shop)
        typer.echo(
            f"{shop}: {_n(result.orders[shop], 'order')}, {_n(result.events[shop], 'event')} "
            f"decided again; {differing} decided differently"
        )
    if not result.differences:
        typer.echo("no event would be decided differently")
        return 0
    typer.echo("")
    typer.echo("decided differently, per shop (current -> proposed: events):")
    for shop, now_label, then_label, n in result.counts():
        typer.echo(f"  {shop}  {now_label} -> {then_label}: {n}")
    shown = result.differences[:limit]
    if shown:
        typer.echo("")
        typer.echo(f"the first {len(shown)} of {len(result.differences)} events:")
        for d in shown:
            typer.echo(
                f"  {d.shop_id}:{d.order_id}  {d.event_id}  {d.event_type}  "
                f"{d.current.label} -> {d.proposed.label}"
            )
    return EXIT_DIFFERENT
