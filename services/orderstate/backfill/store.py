"""What PostgreSQL says about a backfill: the orders the shop has before anything is
published, and the imports the worker has decided since. Reads only."""

from collections.abc import Sequence
from dataclasses import dataclass

from orderstate.backfill.lines import BACKFILL_SOURCE
from orderstate.backfill.scan import Planned
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["Present", "Rejection", "decided", "present", "rejections"]

# Ids per statement: bounded, so a large file costs a few round trips, not one huge array.
_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Present:
    """An order of the file that the shop already has."""

    order_id: str
    version: int
    state: str
    deleted: bool
    # This very import made it (a re-run): nothing to do.
    imported: bool


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    message: str


async def present(conn: Conn, shop_id: str, planned: Sequence[Planned]) -> dict[str, Present]:
    """By order id."""
    found: dict[str, Present] = {}
    for start in range(0, len(planned), _CHUNK):
        part = planned[start : start + _CHUNK]
        rows = await conn.fetch(
            query("backfill_present"),
            shop_id,
            [p.order_id for p in part],
            [p.event_id for p in part],
        )
        for r in rows:
            found[r["order_id"]] = Present(
                r["order_id"], r["version"], r["state"], r["deleted"], r["imported"]
            )
    return found


async def decided(conn: Conn, event_ids: Sequence[str]) -> dict[str, str]:
    """The outcome of each import the worker has applied, by event id."""
    outcomes: dict[str, str] = {}
    for start in range(0, len(event_ids), _CHUNK):
        rows = await conn.fetch(
            query("backfill_processed"), BACKFILL_SOURCE, list(event_ids[start : start + _CHUNK])
        )
        outcomes.update((r["event_id"], r["outcome"]) for r in rows)
    return outcomes


async def rejections(conn: Conn, shop_id: str, event_ids: Sequence[str]) -> dict[str, Rejection]:
    found: dict[str, Rejection] = {}
    for start in range(0, len(event_ids), _CHUNK):
        rows = await conn.fetch(
            query("backfill_rejections"),
            shop_id,
            BACKFILL_SOURCE,
            list(event_ids[start : start + _CHUNK]),
        )
        found.update((r["event_id"], Rejection(r["reason"], r["message"])) for r in rows)
    return found
