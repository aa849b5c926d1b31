"""``orderstate rebuild`` and ``orderstate verify``: what they print and their exit codes
(docs/rebuild.md). The work is in replay, target, source and compare."""

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from pydantic import SecretStr
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from orderstate.domain import PolicyBook, PolicyError
from orderstate.kafka_client import KafkaTlsFilesError
from orderstate.logging import configure_logging
from orderstate.policy_config import read_policy_book
from orderstate.projector import migrate as migrations
from orderstate.projector.queries import query
from orderstate.rebuild.compare import Compared, OrderDifference, compare, count_orders
from orderstate.rebuild.replay import Replayed, ReplayFailedError, replay
from orderstate.rebuild.source import InboundLog, read_inbound_log, retention_warnings
from orderstate.rebuild.target import (
    NotFreshError,
    Takeover,
    copy_from_live,
    prepare,
    rebuild_group,
    stored_offsets,
    take_over,
)
from orderstate.settings import Settings
from orderstate.settings_errors import redact, secrets_of
from orderstate.startup import CONNECT_ERRORS, StartupError, connect_failure, open_pool

__all__ = [
    "EXIT_DIFFERENT",
    "EXIT_FAILED",
    "EXIT_LOG_INCOMPLETE",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "run_rebuild",
    "run_verify",
]

EXIT_REFUSED = 1  # rebuild: the target database is not fresh (or is the live one)
EXIT_DIFFERENT = 1  # verify: the projections differ
EXIT_UNREACHABLE = 2  # configuration, PostgreSQL or Kafka out of reach, topics missing
EXIT_LOG_INCOMPLETE = 3  # rebuild: the inbound topics no longer hold their beginning
EXIT_FAILED = 4  # rebuild: the replay's worker stopped before the end


class _Stop(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Rate(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s")


def _progress(console: Console, unit: str) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        _Rate(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


@dataclass(frozen=True, slots=True)
class _Messages:
    console: Console
    secrets: list[str]

    def fail(self, code: int, message: str) -> int:
        self.console.print(
            f"orderstate: {redact(message, self.secrets)}", markup=False, highlight=False
        )
        return code


def _quiet_logs(settings: Settings, secrets: Sequence[str]) -> None:
    """The worker logs every batch; the progress bar says more, so only warnings are kept."""
    configure_logging(
        level="WARNING", fmt=settings.log_format, environment=settings.environment, secrets=secrets
    )


def _secrets(settings: Settings, *urls: str) -> list[str]:
    rest = [u.partition("://")[2].rpartition("@")[0].partition(":")[2] for u in urls]
    return [*secrets_of(settings), *(p for p in rest if p)]


# -- rebuild ----------------------------------------------------------------------------------


def run_rebuild(
    settings: Settings, target_url: str, *, resume: bool, carry: bool, verbose: bool
) -> int:
    console = Console(highlight=False, soft_wrap=True)
    say = _Messages(
        Console(stderr=True, highlight=False, soft_wrap=True), _secrets(settings, target_url)
    )
    if not verbose:
        _quiet_logs(settings, say.secrets)
    if carry and target_url == settings.database_url.get_secret_value():
        # With --no-carry it may be: the live database was lost and created again, empty.
        return say.fail(
            EXIT_REFUSED,
            "--database-url is ORDERSTATE_DATABASE_URL, the live database: rebuild into a "
            "new, empty database (or, if the live one was lost and created again empty, "
            "pass --no-carry)",
        )
    try:
        request = _Request(
            settings, target_url, read_policy_book(settings.policy_file), resume, carry
        )
        return asyncio.run(_rebuild(request, console))
    except PolicyError as exc:
        return say.fail(EXIT_UNREACHABLE, str(exc))
    except _Stop as stop:
        return say.fail(stop.code, str(stop))


@dataclass(frozen=True, slots=True)
class _Request:
    settings: Settings
    target_url: str
    policies: PolicyBook
    resume: bool
    carry: bool


@dataclass(frozen=True, slots=True)
class _Outcome:
    replayed: Replayed
    taken: Takeover
    orders: int
    carried: dict[str, int]


async def _connect(url: str, what: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url)
    except CONNECT_ERRORS as exc:
        raise _Stop(EXIT_UNREACHABLE, f"{what}: {connect_failure(exc)}") from None


async def _rebuild(request: _Request, console: Console) -> int:
    settings = request.settings
    database, group = await _prepare_target(request)
    if request.carry:
        # Found out now, not after an hour of replay.
        await (await _connect(_live_url(settings), "the live database (--carry)")).close()
    rebuilding = settings.model_copy(
        update={
            "database_url": SecretStr(request.target_url),
            "consumer_group": group,
            "kafka_group_instance_id": None,
        }
    )
    log = await _inbound(rebuilding)
    for warning in await _retention_warnings(rebuilding):
        console.print(f"warning: {warning}", markup=False)
    console.print(
        f"rebuilding database {database} from {settings.topic_orders} and "
        f"{settings.topic_shipments} ({len(log.ends)} partitions) up to their end offsets at "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, in consumer group {group}",
        markup=False,
    )
    outcome = await _replay_and_take_over(request, rebuilding, log, console)
    _summary(console, outcome, settings.consumer_group)
    return 0


async def _prepare_target(request: _Request) -> tuple[str, str]:
    """The target's name and the replay's group, once the target is migrated and fresh."""
    conn = await _connect(request.target_url, "the target database (--database-url)")
    try:
        database: str = await conn.fetchval(query("rebuild_database"))
        group = rebuild_group(request.settings.consumer_group, database)
        try:
            await prepare(
                conn,
                group=group,
                live_group=request.settings.consumer_group,
                resume=request.resume,
            )
        except NotFreshError as exc:
            raise _Stop(EXIT_REFUSED, str(exc)) from None
        except migrations.MigrationError as exc:
            raise _Stop(EXIT_UNREACHABLE, f"the target database: {exc}") from None
    finally:
        await conn.close()
    return database, group


async def _replay_and_take_over(
    request: _Request, rebuilding: Settings, log: InboundLog, console: Console
) -> _Outcome:
    try:
        pool = await open_pool(rebuilding, wait_s=0)
    except StartupError as exc:
        raise _Stop(EXIT_UNREACHABLE, f"the target database: {exc}") from None
    try:
        with _progress(console, "records") as progress:
            task = progress.add_task("replay", total=None)

            def show(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                replayed = await replay(
                    rebuilding, request.policies, pool, ends=log.ends, on_progress=show
                )
            except ReplayFailedError as exc:
                raise _Stop(EXIT_FAILED, f"{exc}; run with --verbose for its log") from None
            except (StartupError, KafkaTlsFilesError) as exc:
                raise _Stop(EXIT_UNREACHABLE, str(exc)) from None
        async with pool.acquire() as conn:
            taken = await take_over(
                conn,
                group=rebuilding.consumer_group,
                live_group=request.settings.consumer_group,
            )
            orders = await count_orders(conn)
            carried = {}
            if request.carry:
                live = await _connect(_live_url(request.settings), "the live database (--carry)")
                try:
                    carried = await copy_from_live(live, conn)
                finally:
                    await live.close()
    finally:
        await pool.close()
    return _Outcome(replayed, taken, orders, carried)


def _live_url(settings: Settings) -> str:
    return settings.database_url.get_secret_value()


async def _inbound(settings: Settings) -> InboundLog:
    try:
        log = await read_inbound_log(settings)
    except (StartupError, KafkaTlsFilesError) as exc:
        raise _Stop(EXIT_UNREACHABLE, str(exc)) from None
    lost = log.lost_beginning
    if lost:
        parts = ", ".join(
            f"{tp.topic}[{tp.partition}] starts at offset {o}" for tp, o in lost.items()
        )
        raise _Stop(
            EXIT_LOG_INCOMPLETE,
            f"the inbound topics no longer hold their beginning ({parts}): records before "
            "those offsets were deleted (retention.ms, retention.bytes or deleted records), "
            "and a replay without them would not give the same orders. Nothing was replayed. "
            "The inbound topics need retention.ms=-1 (docs/rebuild.md, 'Retention').",
        )
    return log


async def _retention_warnings(settings: Settings) -> list[str]:
    try:
        return await retention_warnings(settings)
    except (KafkaError, StartupError) as exc:
        return [f"the inbound topics' retention settings cannot be read ({exc})"]


def _summary(console: Console, outcome: _Outcome, group: str) -> None:
    replayed = outcome.replayed
    rate = replayed.records / replayed.seconds if replayed.seconds else 0.0
    lines = [
        f"  replayed  {replayed.records:,} records in {replayed.seconds:,.1f} s "
        f"({rate:,.0f} records/s)",
        f"  orders    {outcome.orders:,}",
        f"  waiting   {replayed.waiting:,} records for a merge marker on their twin partition "
        "(the live worker writes it; a worker that takes over continues from them)",
        f"  offsets   {outcome.taken.offsets} partitions stored for group {group}, where a "
        "worker pointed at this database continues",
        f"  outbox    {outcome.taken.outbox_marked_sent:,} rows marked sent: the live relay "
        "published these events already",
    ]
    if outcome.carried:
        carried = ", ".join(f"{table} {n:,}" for table, n in outcome.carried.items())
        lines.append(f"  carried   {carried} rows from the live database")
    for line in lines:
        console.print(line, markup=False)


# -- verify -----------------------------------------------------------------------------------


def run_verify(
    settings: Settings, live_url: str, rebuilt_url: str, *, ignore: list[str], verbose: bool
) -> int:
    secrets = _secrets(settings, live_url, rebuilt_url)
    say = _Messages(Console(stderr=True, highlight=False, soft_wrap=True), secrets)
    if not verbose:
        _quiet_logs(settings, secrets)
    out = _Messages(Console(highlight=False, soft_wrap=True), secrets)
    try:
        return asyncio.run(_verify(settings, (live_url, rebuilt_url), ignore, out))
    except _Stop as stop:
        return say.fail(stop.code, str(stop))


async def _usable(url: str, what: str) -> asyncpg.Connection:
    conn = await _connect(url, what)
    found = await migrations.level(conn)
    if not found.usable:
        await conn.close()
        raise _Stop(EXIT_UNREACHABLE, f"{what}: {found.describe()}")
    return conn


async def _verify(
    settings: Settings, urls: tuple[str, str], ignore: list[str], out: _Messages
) -> int:
    live_url, rebuilt_url = urls
    console = out.console
    live = await _usable(live_url, "the live database (--live)")
    try:
        rebuilt = await _usable(rebuilt_url, "the rebuilt database (--rebuilt)")
        try:
            collations = [await c.fetchval(query("rebuild_collation")) for c in (live, rebuilt)]
            if collations[0] != collations[1]:
                raise _Stop(
                    EXIT_UNREACHABLE,
                    f"the databases sort text differently (collation {collations[0]} and "
                    f"{collations[1]}), and verify walks both in key order: create the rebuilt "
                    "database with the live one's collation (createdb --lc-collate)",
                )
            await _compare_offsets(live, rebuilt, settings.consumer_group, console)
            total = max(await count_orders(live), await count_orders(rebuilt))
            with _progress(console, "orders") as progress:
                task = progress.add_task("verify", total=total)

                def show(difference: OrderDifference) -> None:
                    for line in _describe(difference):
                        progress.console.print(redact(line, out.secrets), markup=False)

                result = await compare(
                    live,
                    rebuilt,
                    ignore=ignore,
                    on_difference=show,
                    on_progress=lambda n: progress.advance(task, n),
                )
        finally:
            await rebuilt.close()
    finally:
        await live.close()
    console.print(_verdict(result, ignore), markup=False)
    return EXIT_DIFFERENT if result.differing else 0


async def _compare_offsets(
    live: asyncpg.Connection, rebuilt: asyncpg.Connection, group: str, console: Console
) -> None:
    """Two databases can only be equal where they applied the same records."""
    a, b = await stored_offsets(live, group), await stored_offsets(rebuilt, group)
    if a == b:
        console.print(
            f"both databases applied the inbound topics up to the same offsets "
            f"({sum(a.values()):,} in {len(a)} partitions, group {group})",
            markup=False,
        )
        return
    apart = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    shown = ", ".join(f"{t}[{p}] {a.get((t, p), 0)}/{b.get((t, p), 0)}" for t, p in apart[:6])
    console.print(
        f"note: the databases applied different parts of the log (live/rebuilt, group "
        f"{group}: {shown}{' ...' if len(apart) > 6 else ''}); orders changed by those records "
        "differ too. Stop the live workers and run `orderstate rebuild --resume` first "
        "(docs/rebuild.md).",
        markup=False,
    )


def _describe(difference: OrderDifference) -> Iterator[str]:
    yield f"{difference.shop_id}:{difference.order_id}"
    for found in difference.fields:
        yield f"  {found.name}"
        yield f"    live:    {_short(found.live)}"
        yield f"    rebuilt: {_short(found.rebuilt)}"


def _short(value: Any, limit: int = 200) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _verdict(result: Compared, ignore: list[str]) -> str:
    left_out = f"; left out: {', '.join(ignore)}" if ignore else ""
    if not result.differing:
        return f"compared {result.keys:,} orders: the projections are equal{left_out}"
    parts = ", ".join(f"{part} {n:,}" for part, n in sorted(result.by_part.items()))
    return (
        f"compared {result.keys:,} orders: {result.differing:,} "
        f"{'differs' if result.differing == 1 else 'differ'} ({parts}); "
        f"{result.only_live:,} only in the live database, {result.only_rebuilt:,} only in the "
        f"rebuilt one{left_out}"
    )
