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

from orderstate.projector.connection import Conn

__all__ = [
    "ApiKey",
    "StoredKey",
    "create_key",
    "find_active_key",
    "hash_key",
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
class StoredKey:
    key_id: str
    shop_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_key(plain: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), plain.encode(), hashlib.sha256).hexdigest()


def _key_id_of(plain: str) -> str | None:
    parts = plain.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not _KEY_ID.fullmatch(parts[1]):
        return None
    return parts[1]


async def create_key(
    conn: Conn, *, shop_id: str, label: str | None, pepper: str, now: datetime
) -> ApiKey:
    key_id = secrets.token_hex(6)
    plain = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    await conn.execute(
        "INSERT INTO api_keys (key_id, shop_id, key_hash, label, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        key_id,
        shop_id,
        hash_key(plain, pepper),
        label,
        now,
    )
    return ApiKey(key_id=key_id, shop_id=shop_id, plain=plain)


async def find_active_key(conn: Conn, plain: str, *, pepper: str) -> StoredKey | None:
    """The unrevoked key this plain key proves, or None."""
    key_id = _key_id_of(plain)
    if key_id is None:
        return None
    row = await conn.fetchrow(
        "SELECT key_id, shop_id, key_hash, label, created_at, revoked_at FROM api_keys "
        "WHERE key_id = $1",
        key_id,
    )
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["key_hash"], hash_key(plain, pepper)):
        return None
    return StoredKey(row["key_id"], row["shop_id"], row["label"], row["created_at"], None)


async def is_active(conn: Conn, key_id: str, shop_id: str) -> bool:
    revoked = await conn.fetchval(
        "SELECT revoked_at IS NOT NULL FROM api_keys WHERE key_id = $1 AND shop_id = $2",
        key_id,
        shop_id,
    )
    return revoked is False


async def list_keys(conn: Conn, *, shop_id: str) -> list[StoredKey]:
    rows = await conn.fetch(
        "SELECT key_id, shop_id, label, created_at, revoked_at FROM api_keys "
        "WHERE shop_id = $1 ORDER BY created_at",
        shop_id,
    )
    return [StoredKey(**dict(r)) for r in rows]


async def revoke_key(conn: Conn, *, shop_id: str, key_id: str, now: datetime) -> bool:
    status = await conn.execute(
        "UPDATE api_keys SET revoked_at = $3 "
        "WHERE key_id = $1 AND shop_id = $2 AND revoked_at IS NULL",
        key_id,
        shop_id,
        now,
    )
    return status == "UPDATE 1"
