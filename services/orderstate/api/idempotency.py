"""``Idempotency-Key`` on writes: the same key with the same request replays the first
response; the same key with a different request is refused (422).

The rules (README, "Idempotency"):

- A key is 1-255 visible ASCII characters (``!`` to ``~``, no space), e.g. a UUID; keys are
  per shop.
- The fingerprint of a request is its method, its path, its ``If-Match``, how the caller's
  API key reads requests (profile, unknown fields, time zone) and the body's bytes.
- What is stored: the status, the ``Location``, ``ETag`` and ``Content-Type`` headers and the
  body of the answer, for ``ORDERSTATE_IDEMPOTENCY_RETENTION_HOURS`` (after that the key is
  new again, and the retention clean-up deletes the row). Not stored: 404 and 412, which
  say the order or its version was not what the request expected and changed nothing (the
  same request with the same key is decided again once that is fixed), and 5xx.

The key is claimed under an advisory lock inside the write's transaction, so concurrent
requests with one key run one after the other: the first applies, the others replay.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = [
    "KEY_PATTERN",
    "StoredResponse",
    "is_kept",
    "lock_and_find",
    "request_hash",
    "store",
]

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
# Answers about a precondition of the request, not a decision on the change.
_NOT_KEPT = frozenset({404, 412})


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status: int
    headers: dict[str, str]
    body: str | None


def request_hash(*parts: bytes) -> str:
    """Length-prefixed, so no two different sequences of parts hash alike."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def is_kept(status: int) -> bool:
    return status < 500 and status not in _NOT_KEPT


async def lock_and_find(
    conn: Conn, shop_id: str, key: str, *, now: datetime, retention: timedelta
) -> StoredResponse | None:
    await conn.execute(query("idempotency_lock"), shop_id, key)
    row = await conn.fetchrow(query("idempotency_find"), shop_id, key, now - retention)
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
