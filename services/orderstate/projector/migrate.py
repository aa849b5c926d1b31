"""Versioned SQL migrations: numbered files in ``migrations/``, applied in order, once.

Each file runs in its own transaction and is recorded with its checksum; an
applied file that was edited afterwards stops the run, because the database no
longer matches the history it claims. An advisory lock makes concurrent runs
(a Helm hook and a laptop ``orderstate run``) wait for each other.
"""

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from orderstate.projector.connection import Conn

__all__ = ["Migration", "MigrationError", "applied_versions", "available", "head", "migrate"]

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
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


async def migrate(conn: Conn) -> list[Migration]:
    """Apply every pending migration; return the ones applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer     PRIMARY KEY,
                   name       text        NOT NULL,
                   checksum   text        NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = await applied_versions(conn)
        pending = []
        for migration in available():
            recorded = done.get(migration.version)
            if recorded is None:
                pending.append(migration)
            elif recorded != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name}.sql was changed after it "
                    "was applied; add a new migration instead of editing an applied one"
                )
        unknown = set(done) - {m.version for m in available()}
        if unknown:
            raise MigrationError(
                f"the database has migrations {sorted(unknown)} that this version does not know; "
                "it was migrated by a newer orderstate"
            )
        for migration in pending:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
