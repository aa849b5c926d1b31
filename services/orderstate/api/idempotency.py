"""``Idempotency-Key`` on writes: the same key with the same request replays the first
response; the same key with a different request is refused (422).

The key is claimed under an advisory lock inside the write's transaction, so two
concurrent retries cannot both apply the change.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["StoredResponse", "lock_and_find", "request_hash", "store"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status: int
    headers: dict[str, str]
    body: str | None


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def lock_and_find(conn: Conn, shop_id: str, key: str) -> StoredResponse | None:
    await conn.execute(query("idempotency_lock"), shop_id, key)
    row = await conn.fetchrow(query("idempotency_find"), shop_id, key)
    if row is None:
        return None
    return StoredResponse(
        row["request_hash"], row["status"], json.loads(row["headers"]), row["body"]
    )


async def store(
    conn: Conn, shop_id: str, key: str, response: StoredResponse, now: datetime
) -> None:
    await conn.execute(
        query("idempotency_store"),
        shop_id,
        key,
        response.request_hash,
        response.status,
        json.dumps(response.headers),
        response.body,
        now,
    )
