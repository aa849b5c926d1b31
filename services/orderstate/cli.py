"""The ``orderstate`` command: one entry point for every process and tool.

Settings are read here, once, and passed down; imports happen inside the
commands so ``orderstate --help`` stays fast.
"""

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

    from orderstate.api.keys import KeyReading, StoredKey
    from orderstate.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="orderstate",
    no_args_is_help=True,
    # Markdown joins the lines of a docstring's paragraph; "rich" would keep each line break.
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Manage the Kafka topics orderstate reads and writes.")
app.add_typer(topics_app, name="topics")

API_OPS_PORT = 9101
WORKER_OPS_PORT = 9102
RELAY_OPS_PORT = 9103
MONITOR_OPS_PORT = 9104
OpsPort = Annotated[
    int, typer.Option(help="Port of /healthz, /readyz and /metrics (0 turns it off).")
]
OpsHost = Annotated[str, typer.Option(help="Address the ops port binds to.")]


@app.callback()
def _root() -> None:
    """Order states from Kafka events and a REST API, through one state machine.

    Kafka in, one state machine, PostgreSQL, Kafka out; and a REST API shaped on the Seven
    Senders Orders API v2 that makes the same changes through the same state machine.

    On a laptop, `orderstate run` starts everything in one process. In production: `migrate`,
    `topics create`, then the processes `worker`, `relay` and `api` (the REST API), each
    configured by ORDERSTATE_* environment variables (README, "Configuration").
    """


# Secret values no message of this process may print (set once the settings are read).
_SECRETS: list[str] = []


def _settings() -> "Settings":
    import os

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from orderstate.logging import configure_logging
    from orderstate.settings import Settings
    from orderstate.settings_errors import (
        configuration_problems,
        redact,
        redactable,
        secrets_in_environment,
        secrets_of,
    )

    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        # Never pydantic's own rendering: it quotes the input, secrets included.
        secrets = secrets_in_environment(os.environ)
        lines = [f"  {redact(line, secrets)}" for line in configuration_problems(exc)]
        typer.echo("orderstate: invalid configuration:\n" + "\n".join(lines), err=True)
        raise typer.Exit(2) from None
    _SECRETS[:] = redactable(secrets_of(settings))
    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        environment=settings.environment,
        secrets=_SECRETS,
    )
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    from orderstate.settings_errors import redact

    typer.echo(f"orderstate: {redact(message, _SECRETS)}", err=True)
    return typer.Exit(code)


@app.command("export-schemas")
def export_schemas(
    out: Annotated[Path, typer.Option(help="Folder to write into.")] = Path("schemas"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; fail with a diff if out of date.")
    ] = False,
) -> None:
    """Write JSON Schemas and examples of every event type, asyncapi.yaml and openapi.json."""
    from orderstate.exports.schemas import contract_diff, published_files, write_contract

    files = published_files()
    if check:
        diff = contract_diff(files, out)
        if diff:
            typer.echo(diff, err=True)
            raise _fail(f"{out} is out of date; run `make schemas` and commit.")
        typer.echo(f"{out}: {len(files)} files up to date")
        return
    written = write_contract(files, out)
    typer.echo(f"wrote {len(written)} files under {out}")


@app.command("config-reference")
def config_reference(
    write: Annotated[
        Path | None, typer.Option(help="Replace the table between the markers in this file.")
    ] = None,
) -> None:
    """Print the configuration table of the README (every ORDERSTATE_* variable)."""
    from orderstate.exports.configuration_reference import configuration_table, replace_table

    if write is None:
        typer.echo(configuration_table())
        return
    try:
        write.write_text(replace_table(write.read_text(encoding="utf-8")), encoding="utf-8")
    except ValueError as exc:
        raise _fail(f"{write}: {exc}") from None
    typer.echo(f"updated the configuration table in {write}")


@app.command()
def migrate(
    views_without_history: Annotated[
        bool,
        typer.Option(
            "--views-without-history",
            help="Once every pod runs a release from migration 0009 on: store order views "
            "without their history entries from now on (README, upgrades). Applies no "
            "migration.",
        ),
    ] = False,
    rewrite_views_with_history: Annotated[
        bool,
        typer.Option(
            "--rewrite-views-with-history",
            help="Before rolling back to a release older than migration 0009: store views "
            "with their history entries again and rewrite every stored view so (README, "
            "rollback). Applies no migration.",
        ),
    ] = False,
    outbox_by_reference: Annotated[
        bool,
        typer.Option(
            "--outbox-by-reference",
            help="Once every relay runs a release from migration 0012 on: write order events' "
            "outbox rows without their text, which the relay reads from the order event log "
            "(README, upgrades). Applies no migration.",
        ),
    ] = False,
    outbox_with_text: Annotated[
        bool,
        typer.Option(
            "--outbox-with-text",
            help="Before rolling back to a release older than migration 0012: write outbox "
            "rows with their text again, and write it into every row not sent yet (README, "
            "rollback). Applies no migration.",
        ),
    ] = False,
) -> None:
    """Apply pending database migrations (safe to run concurrently)."""
    switches = [
        name
        for name, given in (
            ("--views-without-history", views_without_history),
            ("--rewrite-views-with-history", rewrite_views_with_history),
            ("--outbox-by-reference", outbox_by_reference),
            ("--outbox-with-text", outbox_with_text),
        )
        if given
    ]
    if len(switches) > 1:
        raise _fail(f"{' and '.join(switches)} cannot be given together: each is a step of its own")
    settings = _settings()
    if views_without_history or rewrite_views_with_history:
        asyncio.run(_view_form(settings, with_history=rewrite_views_with_history))
    elif outbox_by_reference or outbox_with_text:
        asyncio.run(_outbox_form(settings, by_reference=outbox_by_reference))
    else:
        asyncio.run(_migrate(settings))


async def _connect_for_migrations(settings: "Settings") -> "asyncpg.Connection":
    import asyncpg

    from orderstate.startup import CONNECT_ERRORS, connect_failure

    try:
        # No statement cache: the same command works through PgBouncer in transaction mode.
        return await asyncpg.connect(
            settings.database_url.get_secret_value(), statement_cache_size=0
        )
    except CONNECT_ERRORS as exc:
        raise _fail(f"cannot connect to PostgreSQL: {connect_failure(exc)}") from None


async def _connect_from(settings: "Settings", migration: int, until: str) -> "asyncpg.Connection":
    """A connection for a command that needs the database at ``migration`` or later; before it
    the command fails and says what holds ``until`` then."""
    from orderstate.projector import migrate as migrations

    conn = await _connect_for_migrations(settings)
    try:
        level = await migrations.level(conn)
    except BaseException:
        await conn.close()
        raise
    if level.database < migration:
        await conn.close()
        raise _fail(
            f"the database is at migration {level.database}: {until} until migration "
            f"{migration}; run `orderstate migrate` first"
        )
    return conn


async def _view_form(settings: "Settings", *, with_history: bool) -> None:
    """Switch the form order views are stored in (migration 0010); for the old form also
    rewrite every view in it."""
    from rich.console import Console

    from orderstate.progress import count_progress
    from orderstate.projector.queries import query
    from orderstate.projector.stored_views import VIEW_FORM_MIGRATION, rewrite_views_with_history

    conn = await _connect_from(
        settings, VIEW_FORM_MIGRATION, "views are stored with their history entries"
    )
    try:
        if not with_history:
            async with conn.transaction():
                await conn.execute(query("set_view_form"), False)
            typer.echo(
                "order views are stored without their history entries from now on, each at "
                "its order's next change; every pod must run a release from migration 0009 on"
            )
            return
        total = await conn.fetchval(query("views_count"))
        with count_progress(Console(stderr=True)) as bar:
            task = bar.add_task("rewriting", total=total)
            done = await rewrite_views_with_history(conn, lambda n: bar.advance(task, n))
    finally:
        await conn.close()
    typer.echo(
        f"rewrote {done} order view{'' if done == 1 else 's'}, history entries included, and "
        "views are stored so from now on: a release before migration 0009 can read them"
    )


async def _outbox_form(settings: "Settings", *, by_reference: bool) -> None:
    """Switch the form of order events' outbox rows (migration 0012); back to the text, also
    write the text into the rows not sent yet."""
    from rich.console import Console

    from orderstate.progress import count_progress
    from orderstate.projector.queries import query
    from orderstate.projector.write_forms import OUTBOX_FORM_MIGRATION, fill_outbox_text

    conn = await _connect_from(settings, OUTBOX_FORM_MIGRATION, "outbox rows hold their text")
    try:
        if by_reference:
            async with conn.transaction():
                await conn.execute(query("set_outbox_form"), True)
            typer.echo(
                "order events' outbox rows are written without their text from now on; every "
                "relay must run a release from migration 0012 on"
            )
            return
        total = await conn.fetchval(query("outbox_without_text"))
        with count_progress(Console(stderr=True)) as bar:
            task = bar.add_task("filling", total=total)
            filled, missing = await fill_outbox_text(conn, lambda n: bar.advance(task, n))
    finally:
        await conn.close()
    typer.echo(
        f"outbox rows are written with their text from now on, and {filled} unsent "
        f"row{'' if filled == 1 else 's'} got theirs: a relay of a release before migration "
        "0012 can publish them"
    )
    if missing:
        # Only a hand edit of the database gets here; the relay dead-letters these rows.
        raise _fail(
            f"{missing} unsent row{'' if missing == 1 else 's'} name an order event log row "
            "that is missing and got no text: `orderstate outbox` lists them once the relay "
            "has set them aside"
        )


async def _migrate(settings: "Settings") -> None:
    from orderstate.projector import migrate as migrations

    conn = await _connect_for_migrations(settings)
    try:
        applied = await migrations.migrate(conn)
        level = await migrations.level(conn)
    except migrations.MigrationError as exc:
        raise _fail(str(exc)) from None
    finally:
        await conn.close()
    for m in applied:
        typer.echo(f"applied {m.version:04d}_{m.name}")
    typer.echo(level.describe())


@topics_app.command("create")
def topics_create(
    partitions: Annotated[
        int | None,
        typer.Option(min=1, help="Partitions per topic [default: ORDERSTATE_TOPIC_PARTITIONS]"),
    ] = None,
    replication: Annotated[int, typer.Option(min=1, help="Replication factor.")] = 1,
) -> None:
    """Create the inbound, outbound, rejected and alerts topics, and the monitor's changelog
    topics, if missing. Existing topics are never changed: one with another partition count
    than asked for is an error (exit 1), and nothing is created."""
    from orderstate.kafka_client import KafkaTlsFilesError
    from orderstate.startup import StartupError
    from orderstate.topics_admin import TopicMismatchError, create_topics

    settings = _settings()
    try:
        created = asyncio.run(
            create_topics(
                settings,
                partitions=settings.topic_partitions if partitions is None else partitions,
                replication=replication,
            )
        )
    except TopicMismatchError as exc:
        raise _fail(str(exc)) from None
    except (StartupError, KafkaTlsFilesError) as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(f"created {len(created)} topics: {', '.join(created) or 'none needed'}")


@app.command()
def worker(ops_port: OpsPort = WORKER_OPS_PORT, ops_host: OpsHost = "0.0.0.0") -> None:  # noqa: S104 -- pods listen on all interfaces
    """Project inbound Kafka events into PostgreSQL (one consumer-group member)."""
    from orderstate.launch import serve

    settings = _settings()
    raise typer.Exit(serve(settings, {"worker"}, ops_host, ops_port))


@app.command()
def relay(ops_port: OpsPort = RELAY_OPS_PORT, ops_host: OpsHost = "0.0.0.0") -> None:  # noqa: S104 -- pods listen on all interfaces
    """Publish committed outbox rows to Kafka."""
    from orderstate.launch import serve

    settings = _settings()
    raise typer.Exit(serve(settings, {"relay"}, ops_host, ops_port))


@app.command()
def monitor(ops_port: OpsPort = MONITOR_OPS_PORT, ops_host: OpsHost = "0.0.0.0") -> None:  # noqa: S104 -- pods listen on all interfaces
    """Watch the order events for orders past a deadline of their shop's alert rules; publish
    alert.raised and alert.cleared, keep live counts (faust-streaming)."""
    from orderstate.launch import serve

    settings = _settings()
    raise typer.Exit(serve(settings, {"monitor"}, ops_host, ops_port))


@app.command()
def api(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: ORDERSTATE_API_HOST]")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on [default: ORDERSTATE_API_PORT]"),
    ] = None,
    ops_port: OpsPort = API_OPS_PORT,
    ops_host: OpsHost = "0.0.0.0",  # noqa: S104 -- pods listen on all interfaces
) -> None:
    """Serve the REST API on ORDERSTATE_API_HOST:ORDERSTATE_API_PORT; /healthz, /readyz and
    /metrics only on the ops port, never to the API's clients."""
    from orderstate.launch import serve

    settings = _settings()
    chosen = {"api_host": host, "api_port": port}
    settings = settings.model_copy(update={k: v for k, v in chosen.items() if v is not None})
    raise typer.Exit(serve(settings, {"api"}, ops_host, ops_port))


@app.command()
def run(ops_port: OpsPort = WORKER_OPS_PORT, ops_host: OpsHost = "127.0.0.1") -> None:
    """Laptop mode: migrate, create topics, then worker, relay, monitor and REST API in one
    process."""
    from orderstate.kafka_client import KafkaTlsFilesError
    from orderstate.launch import serve
    from orderstate.startup import StartupError
    from orderstate.topics_admin import TopicMismatchError, create_topics

    settings = _settings()
    asyncio.run(_migrate(settings))
    try:
        asyncio.run(create_topics(settings, partitions=settings.topic_partitions))
    except TopicMismatchError as exc:
        raise _fail(str(exc)) from None
    except (StartupError, KafkaTlsFilesError) as exc:
        raise _fail(str(exc), 2) from None
    parts = {"worker", "relay", "monitor", "api"}
    raise typer.Exit(serve(settings, parts, ops_host, ops_port))


def healthcheck_port(argv: list[str]) -> int | None:
    """The port whose /healthz tells whether the orderstate command in ``argv`` (a process's
    command line, interpreter first) is alive; None for a command that serves nothing."""
    names = [Path(part).name for part in argv]
    args = argv[names.index("orderstate") + 1 :] if "orderstate" in names else argv

    def option(name: str) -> str | None:
        for i, arg in enumerate(args):
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
        return None

    command = next((a for a in args if not a.startswith("-")), "")
    ops_port = option("--ops-port")
    if ops_port is not None:
        return int(ops_port) or None
    ports = {
        "api": API_OPS_PORT,
        "worker": WORKER_OPS_PORT,
        "relay": RELAY_OPS_PORT,
        "monitor": MONITOR_OPS_PORT,
        "run": WORKER_OPS_PORT,
    }
    return ports.get(command)


@app.command(hidden=True)
def healthcheck() -> None:
    """For the image's HEALTHCHECK: /healthz of the orderstate command that is PID 1, on its
    ops port (api, worker, relay and monitor each have their own). Reads no settings."""
    import urllib.request

    argv = Path("/proc/1/cmdline").read_bytes().decode().split("\0")
    port = healthcheck_port([part for part in argv if part])
    if port is None:
        return
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4):
            return
    except OSError as exc:
        raise _fail(f"/healthz on port {port}: {exc}") from None


apikey_app = typer.Typer(help="Create, configure, list and revoke the REST API keys of a shop.")
app.add_typer(apikey_app, name="apikey")
ShopOption = Annotated[str, typer.Option("--shop", help="The shop id the key belongs to.")]
ProfileOption = Annotated[
    str,
    typer.Option(
        help="How the key's requests are read: standard, sevensenders, woocommerce or spryker "
        "(README, 'Coming from Seven Senders')."
    ),
]
UnknownFieldsOption = Annotated[
    str | None,
    typer.Option(
        "--unknown-fields",
        help="'ignore' or 'refuse' request fields orderstate does not know; unset follows "
        "ORDERSTATE_API_UNKNOWN_FIELDS.",
    ),
]
TimeZoneOption = Annotated[
    str | None,
    typer.Option(
        "--time-zone",
        help="IANA zone naive datetimes of this key are read in, e.g. Europe/Berlin; unset "
        "follows ORDERSTATE_API_TIME_ZONE.",
    ),
]


@apikey_app.command("create")
def apikey_create(
    shop: ShopOption,
    label: Annotated[str | None, typer.Option(help="A note, e.g. who uses the key.")] = None,
    profile: ProfileOption = "standard",
    unknown_fields: UnknownFieldsOption = None,
    time_zone: TimeZoneOption = None,
) -> None:
    """Create a key; it is shown once and stored only as a keyed hash."""
    from orderstate.api.keys import create_key

    settings = _settings()
    _check_shop_id(shop)
    reading = _key_reading(profile, unknown_fields, time_zone)

    async def go() -> str:
        conn = await _connect(settings)
        try:
            key = await create_key(
                conn,
                shop_id=shop,
                label=label,
                pepper=settings.api_key_pepper.get_secret_value(),
                now=_now(),
                reading=reading,
            )
        finally:
            await conn.close()
        return key.plain

    plain = asyncio.run(go())
    typer.echo(plain)
    typer.echo(f"API key for shop {shop} (shown once; store it now).", err=True)


@apikey_app.command("set")
def apikey_set(
    shop: ShopOption,
    key_id: Annotated[str, typer.Argument(help="From `apikey list`.")],
    profile: ProfileOption = "standard",
    unknown_fields: UnknownFieldsOption = None,
    time_zone: TimeZoneOption = None,
) -> None:
    """Set how an active key's requests are read.

    All three options at once: those not given go back to their defaults."""
    from orderstate.api.keys import configure_key, find_key

    settings = _settings()
    _check_shop_id(shop)
    reading = _key_reading(profile, unknown_fields, time_zone)

    async def go() -> tuple[bool, "StoredKey | None"]:
        conn = await _connect(settings)
        try:
            done = await configure_key(conn, shop_id=shop, key_id=key_id, reading=reading)
            return done, None if done else await find_key(conn, key_id)
        finally:
            await conn.close()

    done, found = asyncio.run(go())
    if not done:
        raise _fail(_why_not_active(found, key_id, shop))
    typer.echo(f"{key_id}: {_describe(reading)}")


@apikey_app.command("list")
def apikey_list(shop: ShopOption) -> None:
    """The shop's keys: id, created, revoked, how requests are read, label (never the key)."""
    from orderstate.api.keys import list_keys

    settings = _settings()
    _check_shop_id(shop)

    async def go() -> list["StoredKey"]:
        conn = await _connect(settings)
        try:
            return await list_keys(conn, shop_id=shop)
        finally:
            await conn.close()

    keys = asyncio.run(go())
    if not keys:
        typer.echo(f"no keys for shop {shop}")
        return
    typer.echo("key id\tcreated\trevoked\tprofile\tunknown fields\ttime zone\tlabel")
    for key in keys:
        typer.echo(
            "\t".join(
                [
                    key.key_id,
                    key.created_at.isoformat(),
                    key.revoked_at.isoformat() if key.revoked_at else "active",
                    key.reading.profile,
                    key.reading.unknown_fields or "(setting)",
                    key.reading.time_zone or "(setting)",
                    key.label or "",
                ]
            )
        )


@apikey_app.command("revoke")
def apikey_revoke(
    shop: ShopOption, key_id: Annotated[str, typer.Argument(help="From `apikey list`.")]
) -> None:
    """Revoke a key; its bearer tokens stop working at once."""
    from orderstate.api.keys import find_key, revoke_key

    settings = _settings()
    _check_shop_id(shop)

    async def go() -> tuple[bool, "StoredKey | None"]:
        conn = await _connect(settings)
        try:
            done = await revoke_key(conn, shop_id=shop, key_id=key_id, now=_now())
            return done, None if done else await find_key(conn, key_id)
        finally:
            await conn.close()

    done, found = asyncio.run(go())
    if not done:
        raise _fail(_why_not_active(found, key_id, shop))
    typer.echo(f"revoked {key_id}")


def _why_not_active(found: "StoredKey | None", key_id: str, shop: str) -> str:
    """Why the active key ``key_id`` of ``shop`` could not be changed."""
    if found is None:
        return f"no key {key_id}; `orderstate apikey list --shop {shop}` shows the shop's keys"
    if found.shop_id != shop:
        return f"key {key_id} is not a key of shop {shop}; check --shop"
    revoked_at = found.revoked_at.isoformat() if found.revoked_at else "?"
    return f"key {key_id} of shop {shop} was already revoked at {revoked_at}"


outbox_app = typer.Typer(
    help="Outbox rows the relay set aside (dead-lettered): list them, send them again, or skip "
    "them. An order's later events wait behind its dead-lettered row."
)
app.add_typer(outbox_app, name="outbox")
RowIds = Annotated[list[int] | None, typer.Argument(help="Outbox row ids, from `outbox list`.")]
AllRows = Annotated[bool, typer.Option("--all", help="Every dead-lettered row.")]


@outbox_app.command("list")
def outbox_list(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's rows.")] = None,
) -> None:
    """List the dead-lettered rows.

    Id, shop, order, topic, size, when, why, and how many of the order's later events wait
    behind it."""
    from orderstate.projector.queries import query

    settings = _settings()

    async def go() -> list["asyncpg.Record"]:
        conn = await _connect(settings)
        try:
            return list(await conn.fetch(query("outbox_dead_rows"), shop))
        finally:
            await conn.close()

    rows = asyncio.run(go())
    if not rows:
        typer.echo("no dead-lettered outbox rows" + (f" for shop {shop}" if shop else ""))
        return
    typer.echo("id\tshop\torder\ttopic\tbytes\tdead since\twaiting behind\treason")
    for r in rows:
        typer.echo(
            f"{r['id']}\t{r['shop_id']}\t{r['order_id']}\t{r['topic_role']}\t{r['bytes']}\t"
            f"{r['dead_at'].isoformat()}\t{r['waiting']}\t{r['dead_reason']}"
        )


@outbox_app.command("retry")
def outbox_retry(ids: RowIds = None, all_rows: AllRows = False) -> None:
    """Give dead-lettered rows back to the relay, once their cause is fixed.

    For example after the topic's max.message.bytes was raised; the order's waiting events
    follow in order."""
    _outbox_resolve("outbox_retry", ids, all_rows, "given back to the relay")


@outbox_app.command("skip")
def outbox_skip(ids: RowIds = None, all_rows: AllRows = False) -> None:
    """Give up on dead-lettered rows: they are never published.

    The order's later events go out. Consumers see a gap in the order's sequence where a row
    was skipped."""
    _outbox_resolve("outbox_skip", ids, all_rows, "skipped")


def _outbox_resolve(name: str, ids: list[int] | None, all_rows: bool, done: str) -> None:
    from orderstate.projector.queries import query

    if not ids and not all_rows:
        raise _fail("name the rows (ids from `orderstate outbox list`) or pass --all")
    settings = _settings()

    async def go() -> list[int]:
        conn = await _connect(settings)
        try:
            args = [ids or [], all_rows]
            if name == "outbox_skip":
                args.append(_now())
            return [r["id"] for r in await conn.fetch(query(name), *args)]
        finally:
            await conn.close()

    resolved = asyncio.run(go())
    missing = sorted(set(ids or []) - set(resolved))
    if resolved:
        typer.echo(f"{len(resolved)} row(s) {done}: {', '.join(map(str, sorted(resolved)))}")
    if missing:
        raise _fail(f"not dead-lettered (or no such row): {', '.join(map(str, missing))}")
    if not resolved:
        typer.echo("no dead-lettered outbox rows")


def _key_reading(profile: str, unknown_fields: str | None, time_zone: str | None) -> "KeyReading":
    from orderstate.api.compat.profiles import profile_named
    from orderstate.api.keys import KeyReading
    from orderstate.settings import zone_named

    try:
        profile_named(profile)
        if time_zone is not None:
            zone_named(time_zone)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if unknown_fields not in (None, "ignore", "refuse"):
        raise _fail(f"--unknown-fields {unknown_fields!r}: use 'ignore' or 'refuse'")
    return KeyReading(profile=profile, unknown_fields=unknown_fields, time_zone=time_zone)


def _describe(reading: "KeyReading") -> str:
    return (
        f"profile={reading.profile} unknown_fields={reading.unknown_fields or '(setting)'} "
        f"time_zone={reading.time_zone or '(setting)'}"
    )


def _check_shop_id(shop: str, code: int = 1) -> None:
    import re

    from orderstate.events.fields import ID_PATTERN

    if not re.match(ID_PATTERN, shop) or len(shop) > 64:
        raise _fail(f"--shop {shop!r}: use 1-64 letters, digits, '.', '_', '~' or '-'", code)


def _now() -> "datetime":
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def _connect(settings: "Settings") -> "asyncpg.Connection":
    """A connection to a database this code can work on, or a message saying what to do."""

    from orderstate.projector import migrate as migrations
    from orderstate.startup import CONNECT_ERRORS, connect_failure, connect_once

    try:
        conn = await connect_once(settings)
    except CONNECT_ERRORS as exc:
        raise _fail(f"cannot connect to PostgreSQL: {connect_failure(exc)}") from None
    found = await migrations.level(conn)
    if found.usable:
        return conn
    await conn.close()
    if found.database == 0:
        raise _fail("the database has no orderstate tables yet; run `orderstate migrate` first")
    raise _fail(found.describe())


@app.command()
def rebuild(
    database_url: Annotated[
        str,
        typer.Option(
            help="The database to rebuild into: a new, empty one (`createdb`), on any server. "
            "A password may come from PGPASSWORD or ~/.pgpass instead of the URL."
        ),
    ],
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue a rebuild that this command began in that database, up to the "
            "end offsets now (the last step before a switch-over)."
        ),
    ] = False,
    carry: Annotated[
        bool,
        typer.Option(
            help="Copy api_keys, idempotency_keys and order_alerts from the live database "
            "(ORDERSTATE_DATABASE_URL) at the end; --no-carry when it is gone."
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option(help="Keep the worker's log lines.")] = False,
) -> None:
    """Replay the inbound topics from their beginning into a new database, with the worker's
    code, up to their end offsets at the start; publish nothing.

    Exit codes: 0 rebuilt; 1 the database is not empty (or is the live one); 2 a
    configuration, PostgreSQL or Kafka problem; 3 the inbound topics no longer hold their
    beginning (retention); 4 the replay stopped early. Then `orderstate verify`; the
    switch-over is in docs/rebuild.md.
    """
    from orderstate.rebuild.commands import run_rebuild

    settings = _settings()
    raise typer.Exit(
        run_rebuild(settings, database_url, resume=resume, carry=carry, verbose=verbose)
    )


@app.command()
def verify(
    live: Annotated[str, typer.Option(help="URL of the live database.")],
    rebuilt: Annotated[str, typer.Option(help="URL of the rebuilt database.")],
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            help="Leave a part out (repeatable): view, tags, items, shipments, history, "
            "rejections, parked, events."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Keep log lines.")] = False,
) -> None:
    """Compare two projections order by order (wall-clock fields aside) and print each order
    that differs, with its differing fields.

    Exit codes: 0 equal; 1 they differ; 2 a configuration or PostgreSQL problem.
    """
    from orderstate.rebuild.commands import run_verify
    from orderstate.rebuild.compare import PARTS

    unknown = sorted(set(ignore or ()) - set(PARTS))
    if unknown:
        raise _fail(f"--ignore {', '.join(unknown)}: use one of {', '.join(PARTS)}", 2)
    settings = _settings()
    raise typer.Exit(run_verify(settings, live, rebuilt, ignore=ignore or [], verbose=verbose))


@app.command()
def simulate(  # noqa: PLR0917 -- typer passes every option of the command
    shops: Annotated[int, typer.Option(min=1, help="Shops to spread the orders over.")] = 5,
    orders: Annotated[
        int, typer.Option(min=1, help="Orders, each through a whole lifecycle.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed; a seed gives the same traffic.")] = 1,
    wait: Annotated[
        bool, typer.Option(help="Wait until worker and relay processed everything.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for processing.")] = 600,
    promised: Annotated[
        float,
        typer.Option(
            min=0, max=1, help="Share of orders promised for delivery 4 hours after ordering."
        ),
    ] = 0.1,
    overdue: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="Stalled orders from three days earlier, as a share of --orders, on top.",
        ),
    ] = 0.03,
    monitor_metrics: Annotated[
        str | None,
        typer.Option(
            help="/metrics URL of the order monitor (`orderstate run`'s ops port): wait for it "
            "and add its alerts and live counts to the summary."
        ),
    ] = None,
) -> None:
    """Publish realistic traffic (races, duplicates, late and invalid events, orders that
    miss their deadlines) and summarise."""
    from rich.console import Console

    from orderstate.simulation.generator import SimConfig
    from orderstate.simulation.run import SimulationTimeoutError, print_summary
    from orderstate.simulation.run import simulate as run_simulation

    settings = _settings()
    console = Console(stderr=False)
    config = SimConfig(shops=shops, orders=orders, seed=seed, promised=promised, overdue=overdue)
    try:
        summary = asyncio.run(
            run_simulation(
                settings,
                config,
                wait=wait,
                timeout_s=timeout,
                console=console,
                monitor_metrics=monitor_metrics,
            )
        )
    except SimulationTimeoutError as exc:
        raise _fail(str(exc)) from None
    print_summary(summary, console)


@app.command()
def backfill(  # noqa: PLR0917 -- typer passes every option of the command
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="NDJSON: one order per line."
        ),
    ],
    shop: Annotated[str, typer.Option("--shop", help="The shop the orders belong to.")],
    emit: Annotated[
        bool,
        typer.Option(
            "--emit",
            help="Publish the imported orders' events, flagged backfill: true (default: none).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the file and what the shop has; publish nothing."),
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import the valid lines even when others are invalid."),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait until the worker has applied every published order."),
    ] = False,
    timeout: Annotated[float, typer.Option(min=0, help="Seconds --wait waits at most.")] = 600,
    profile: Annotated[
        str,
        typer.Option(
            help="Read the file as this client's API key would (README, 'Coming from Seven "
            "Senders'): 'sevensenders' reads a missing boarding_complete as true."
        ),
    ] = "standard",
    time_zone: Annotated[
        str, typer.Option("--time-zone", help="IANA zone of datetimes without an offset.")
    ] = "UTC",
) -> None:
    """Import historical orders (GET /v2/orders items or Seven Senders exports) through the
    inbound orders topic: all or nothing, idempotent, no downstream events unless --emit.

    Exit codes: 0 imported (or already present); 1 invalid lines, nothing published; 2
    usage or configuration; 3 some orders not imported (the shop has them, or
    --skip-invalid); 4 PostgreSQL or Kafka unreachable, nothing published; 5 --wait timed out.
    """
    from rich.console import Console

    from orderstate.api.compat.profiles import profile_named
    from orderstate.api.compat.reading import Reading
    from orderstate.backfill.run import Options
    from orderstate.backfill.run import backfill as run_backfill
    from orderstate.domain import PolicyError
    from orderstate.kafka_client import kafka_options
    from orderstate.policy_config import read_policy_book
    from orderstate.settings import zone_named

    settings = _settings()
    _check_shop_id(shop, 2)
    try:
        reading = Reading(profile=profile_named(profile), zone=zone_named(time_zone))
        policies = read_policy_book(settings.policy_file)
        if not dry_run:
            # Unusable Kafka TLS files (a ValueError naming the setting) are a configuration
            # error, found before the file is read rather than as a traceback at publishing.
            kafka_options(settings, role="backfill")
    except (ValueError, PolicyError) as exc:
        raise _fail(str(exc), 2) from None
    options = Options(
        path=file,
        shop_id=shop,
        reading=reading,
        emit=emit,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        wait=wait,
        timeout_s=timeout,
    )
    code = asyncio.run(run_backfill(settings, options, policies, Console(), Console(stderr=True)))
    raise typer.Exit(code)


def _register_repair_commands() -> None:
    # `orderstate redrive` and `orderstate policy check` live in orderstate.repair.
    from orderstate.repair.commands import register

    register(app, _settings, _fail)


_register_repair_commands()


def main() -> None:
    app()
