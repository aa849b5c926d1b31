"""Versioned SQL migrations: numbered files in ``migrations/``, applied in order, once.

Each file runs in its own transaction and is recorded with its checksum; an
applied file that was edited afterwards stops the run, because the database no
longer matches the history it claims.

Every statement runs inside an explicit transaction and the lock that makes
concurrent runs (a Helm hook and a laptop ``orderstate run``) wait for each other
is transaction-scoped, so migrations also work through PgBouncer in transaction
mode, where consecutive transactions of one client may use different server
connections and a session-level lock would stay behind on one of them.

A database AHEAD of this code (migrations it does not know, recorded after the
ones it does) is a rollback: every migration keeps the previous release working
(add and backfill first, drop only in a later release), so ``migrate`` applies
nothing and succeeds, and readiness accepts it. ``level`` is the one place that
decides; ``migrate`` and readiness both ask it.
"""

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = [
    "Level",
    "Migration",
    "MigrationError",
    "applied_versions",
    "available",
    "head",
    "level",
    "migrate",
]

_LOCK_KEY = 0x6F726465727374  # "orderst": an arbitrary constant shared by every runner
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Level:
    """Where the database stands against this code's migrations."""

    database: int  # the highest version recorded in the database (0: none)
    code: int  # this code's head
    # Why this code must not run against the database; None when it may.
    problem: str | None

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def ahead(self) -> bool:
        return self.database > self.code

    def describe(self) -> str:
        if self.problem is not None:
            return self.problem
        if self.ahead:
            return (
                f"the database is at migration {self.database}, ahead of this orderstate "
                f"(head {self.code}): a rollback, which the previous release supports"
            )
        return f"the database is at migration {self.database} (head)"


def available() -> list[Migration]:
    folder = resources.files("orderstate.projector") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
        elif entry.name.endswith(".sql"):
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..n without gaps, found {versions}")
    return found


def head() -> int:
    return len(available())


async def applied_versions(conn: Conn) -> dict[int, str]:
    # One transaction, so that both queries reach the same server connection behind a pooler.
    async with conn.transaction():
        exists = await conn.fetchval(query("migrations_table_exists"))
        if not exists:
            return {}
        rows = await conn.fetch(query("migrations_applied"))
    return {r["version"]: r["checksum"] for r in rows}


def _edited(done: dict[int, str], known: list[Migration]) -> str | None:
    for migration in known:
        recorded = done.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            return (
                f"migration {migration.version:04d}_{migration.name}.sql was changed after it "
                "was applied; add a new migration instead of editing an applied one"
            )
    return None


def _level(done: dict[int, str], known: list[Migration]) -> Level:
    code = len(known)
    database = max(done, default=0)
    edited = _edited(done, known)
    if edited is not None:
        return Level(database, code, edited)
    missing = [m.version for m in known if m.version not in done]
    if missing:
        return Level(
            database,
            code,
            f"the database lacks migrations {missing} of this orderstate (head {code}); "
            "run `orderstate migrate`",
        )
    return Level(database, code, None)


async def level(conn: Conn) -> Level:
    """Whether this code may run against the database, and why not."""
    return _level(await applied_versions(conn), available())


async def migrate(conn: Conn) -> list[Migration]:
    """Apply every pending migration; return the ones applied.

    A database ahead of the code is left as it is (see the module docstring); one whose
    applied migrations differ from this code's files raises MigrationError.
    """
    known = available()
    async with conn.transaction():
        await conn.execute(query("migrations_lock"), _LOCK_KEY)
        await conn.execute(query("migrations_create_table"))
        edited = _edited(await applied_versions(conn), known)
    if edited is not None:
        raise MigrationError(edited)
    applied = []
    for migration in known:
        async with conn.transaction():
            # Under the lock, read again: another runner may have applied it meanwhile.
            await conn.execute(query("migrations_lock"), _LOCK_KEY)
            if migration.version in await applied_versions(conn):
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                query("migrations_record"),
                migration.version,
                migration.name,
                migration.checksum,
            )
        applied.append(migration)
    return applied
