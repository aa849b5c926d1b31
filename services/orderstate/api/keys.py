"""API keys: generation, keyed hashing and storage.

A key looks like ``osk_<key_id>_<secret>``. The key id (public, 12 hex digits)
finds the row; the whole key is verified against HMAC-SHA256(pepper, key), so a
copy of the table without the pepper reveals nothing usable. Keys are 32 random
bytes, which is why a keyed hash suffices where a password would need a slow one.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = [
    "ApiKey",
    "KeyReading",
    "StoredKey",
    "configure_key",
    "create_key",
    "find_active_key",
    "find_active_key_by_id",
    "find_key",
    "hash_key",
    "key_id_of",
    "list_keys",
    "revoke_key",
]

_PREFIX = "osk"
_KEY_ID = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    shop_id: str
    plain: str


@dataclass(frozen=True, slots=True)
class KeyReading:
    """How the REST API reads this key's requests (api/compat): its profile, whether unknown
    body fields are ignored or refused, and the zone of naive datetimes; None follows the
    setting."""

    profile: str = "standard"
    unknown_fields: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: str
    shop_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    reading: KeyReading = KeyReading()


def _stored(row: asyncpg.Record) -> StoredKey:
    return StoredKey(
        row["key_id"],
        row["shop_id"],
        row["label"],
        row["created_at"],
        row["revoked_at"],
        KeyReading(row["profile"], row["unknown_fields"], row["time_zone"]),
    )


def hash_key(plain: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), plain.encode(), hashlib.sha256).hexdigest()


def key_id_of(plain: str) -> str | None:
    """The key id of a key of the right form, else None (no need to ask the database)."""
    parts = plain.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not _KEY_ID.fullmatch(parts[1]):
        return None
    return parts[1]


async def create_key(
    conn: Conn,
    *,
    shop_id: str,
    label: str | None,
    pepper: str,
    now: datetime,
    reading: KeyReading = KeyReading(),
) -> ApiKey:
    key_id = secrets.token_hex(6)
    plain = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    await conn.execute(
        query("api_key_insert"),
        key_id,
        shop_id,
        hash_key(plain, pepper),
        label,
        now,
        reading.profile,
        reading.unknown_fields,
        reading.time_zone,
    )
    return ApiKey(key_id=key_id, shop_id=shop_id, plain=plain)


async def configure_key(conn: Conn, *, shop_id: str, key_id: str, reading: KeyReading) -> bool:
    """Replace how the API reads an active key's requests; False when there is no such key."""
    status = await conn.execute(
        query("api_key_configure"),
        key_id,
        shop_id,
        reading.profile,
        reading.unknown_fields,
        reading.time_zone,
    )
    return status == "UPDATE 1"


async def find_active_key(conn: Conn, plain: str, *, pepper: str) -> StoredKey | None:
    """The unrevoked key this plain key proves, or None."""
    key_id = key_id_of(plain)
    if key_id is None:
        return None
    row = await conn.fetchrow(query("api_key_by_id"), key_id)
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["key_hash"], hash_key(plain, pepper)):
        return None
    return _stored(row)


async def find_active_key_by_id(conn: Conn, key_id: str, shop_id: str) -> StoredKey | None:
    """The unrevoked key a bearer token names, or None."""
    row = await conn.fetchrow(query("api_key_of_shop"), key_id, shop_id)
    if row is None or row["revoked_at"] is not None:
        return None
    return _stored(row)


async def find_key(conn: Conn, key_id: str) -> StoredKey | None:
    """A key by its id, of any shop, revoked or not: for saying why a key cannot be used."""
    row = await conn.fetchrow(query("api_key_by_id"), key_id)
    return None if row is None else _stored(row)


async def list_keys(conn: Conn, *, shop_id: str) -> list[StoredKey]:
    rows = await conn.fetch(query("api_keys_of_shop"), shop_id)
    return [_stored(r) for r in rows]


async def revoke_key(conn: Conn, *, shop_id: str, key_id: str, now: datetime) -> bool:
    status = await conn.execute(
        query("api_key_revoke"),
        key_id,
        shop_id,
        now,
    )
    return status == "UPDATE 1"
