"""Per-test PostgreSQL databases cloned from one template per session."""

import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from orderstate.projector.migrate import migrate

__all__ = ["clone_database", "create_empty", "create_template", "drop_database", "with_database"]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(with_database(url, "postgres"))


async def create_template(url: str) -> str:
    """A database migrated to head, from which each test's database is cloned."""
    name = f"orderstate_template_{uuid.uuid4().hex[:8]}"
    await create_empty(url, name)
    conn = await asyncpg.connect(with_database(url, name))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return name


async def create_empty(url: str, name: str) -> None:
    conn = await _admin(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def clone_database(url: str, template: str) -> str:
    name = f"orderstate_test_{uuid.uuid4().hex[:12]}"
    conn = await _admin(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return name


async def drop_database(url: str, name: str) -> None:
    conn = await _admin(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
