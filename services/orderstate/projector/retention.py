"""Deleting what is kept only for a while, in small batches.

Each table is cleaned by its own age column, a batch at a time, so a clean-up after a long
pause never holds one long transaction or locks many rows at once.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import structlog

from orderstate import metrics
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query
from orderstate.settings import Settings

__all__ = ["BATCH", "clean_up"]

log = structlog.get_logger("orderstate.retention")

BATCH = 5_000


async def clean_up(
    conn: Conn, settings: Settings, *, stop: asyncio.Event | None = None
) -> dict[str, int]:
    """Delete every row past its table's retention; return how many per table."""
    now = datetime.now(UTC)
    cutoffs = {
        "outbox": now - timedelta(hours=settings.outbox_retention_hours),
        "processed_events": now - timedelta(days=settings.processed_events_retention_days),
        "idempotency_keys": now - timedelta(hours=settings.idempotency_retention_hours),
        "rejected_events": now - timedelta(days=settings.rejected_events_retention_days),
    }
    deleted = {}
    for table, cutoff in cutoffs.items():
        total = 0
        while stop is None or not stop.is_set():
            status = await conn.execute(query(f"retention_{table}"), cutoff, BATCH)
            count = int(status.split()[-1])
            total += count
            if count < BATCH:
                break
            # Let other work on the connection pool and the server in between batches.
            await asyncio.sleep(0.01)
        deleted[table] = total
        if total:
            metrics.RETENTION_DELETED.labels(table).inc(total)
    log.info("retention_cleanup", **deleted)
    return deleted
