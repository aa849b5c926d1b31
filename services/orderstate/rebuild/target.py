"""The database a rebuild fills: made ready (migrated, and fresh unless a rebuild is resumed)
and, once the replay is done, made ready to take over (docs/rebuild.md, "Switching over").

The replay's worker runs in a consumer group of its own (``rebuild_group``), so the live
workers' group, in Kafka and in the live database, is never touched. Its offsets are stored
under that group; at the end they are copied to the live group's name in the rebuilt
database, which is where a worker pointed at it will continue.
"""

from dataclasses import dataclass

import asyncpg

from orderstate.projector import migrate as migrations
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = [
    "NotFreshError",
    "Takeover",
    "copy_from_live",
    "prepare",
    "rebuild_group",
    "stored_offsets",
    "take_over",
]

# Tables that live only in PostgreSQL (not derived from the inbound topics), carried over
# from the live database with their primary keys: the API keys, the REST responses kept for
# Idempotency-Key replays, and the order monitor's alerts (derived from the outbound topic,
# which a rebuild does not write).
CARRIED = ("api_keys", "idempotency_keys", "order_alerts")
_CHUNK = 5_000


class NotFreshError(RuntimeError):
    """The target database holds orders that no rebuild of this kind put there."""


def rebuild_group(live_group: str, database: str) -> str:
    """The replay's consumer group: one per target database, so two rebuilds into two
    databases never share partitions, and a resumed rebuild finds its offsets again."""
    return f"{live_group}.rebuild.{database}"


async def prepare(conn: Conn, *, group: str, live_group: str, resume: bool) -> int:
    """Migrate the target; refuse one that holds orders, unless ``resume`` and a rebuild
    filled it and no worker has worked in it since. Returns the migrations applied."""
    applied = await migrations.migrate(conn)
    holds = await conn.fetchval(query("rebuild_holds_orders"))
    if not holds:
        return len(applied)
    database = await conn.fetchval(query("rebuild_database"))
    if not resume:
        raise NotFreshError(
            f"database {database} already holds orders; rebuild into a new, empty database "
            "(createdb), or pass --resume to continue a rebuild this command began there"
        )
    offsets = await stored_offsets(conn, group)
    if not offsets:
        raise NotFreshError(
            f"database {database} holds orders, but no rebuild began there (no offsets of "
            f"group {group}): --resume continues only a rebuild into this database"
        )
    ahead = [
        f"{topic}[{partition}]"
        for (topic, partition), offset in (await stored_offsets(conn, live_group)).items()
        if offset > offsets.get((topic, partition), 0)
    ]
    if ahead:
        raise NotFreshError(
            f"database {database} has been taken over: the worker of group {live_group} "
            f"applied more than the rebuild in {', '.join(sorted(ahead))}; a rebuild cannot "
            "be resumed in a database that is live"
        )
    return len(applied)


async def stored_offsets(conn: Conn, group: str) -> dict[tuple[str, int], int]:
    rows = await conn.fetch(query("rebuild_stored_offsets"), group)
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


@dataclass(frozen=True, slots=True)
class Takeover:
    offsets: int  # partitions whose offsets were copied to the live group
    outbox_marked_sent: int


async def take_over(conn: Conn, *, group: str, live_group: str) -> Takeover:
    """Make the rebuilt database one the live processes can be pointed at: the live group
    continues where the replay stopped, and the relay does not publish again what the live
    database's relay published already (every outbox row of the replay is marked sent)."""
    async with conn.transaction():
        copied = await conn.execute(query("rebuild_offsets_to_live_group"), group, live_group)
        marked = await conn.execute(query("rebuild_outbox_mark_sent"))
    return Takeover(offsets=_count(copied), outbox_marked_sent=_count(marked))


async def copy_from_live(live: asyncpg.Connection, target: Conn) -> dict[str, int]:
    """Upsert every row of the ``CARRIED`` tables from the live database; rows by the same
    key are replaced, so copying again (a resumed rebuild) brings revocations over too."""
    copied = {}
    for table in CARRIED:
        total = 0
        async with target.transaction(), live.transaction(readonly=True):
            cursor = await live.cursor(query(f"rebuild_read_{table}"))
            while rows := await cursor.fetch(_CHUNK):
                batch = "[" + ",".join(r["row"] for r in rows) + "]"
                await target.execute(query(f"rebuild_carry_{table}"), batch)
                total += len(rows)
        copied[table] = total
    return copied


def _count(status: str) -> int:
    return int(status.rsplit(maxsplit=1)[-1])
