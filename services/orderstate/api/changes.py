"""The changes feed (GET /v2/changes): a shop's order events in commit order, from a cursor.

Why the order is (xid, position) and not position alone. ``position`` is an identity value
drawn when a transaction inserts its rows, not when it commits. Two writers (two workers, or a
worker and a REST request) can draw 10 and 11, and the one with 11 can commit first: a reader
then sees 11, moves its cursor past it, and never sees 10 when it commits a moment later.
So rows are served only from transactions older than the oldest transaction still running
(``xid < pg_snapshot_xmin(pg_current_snapshot())``, taken with the query's own snapshot):
every such transaction has ended, so the set of those rows is final, and ordered by the
writing transaction's id, then by position within it, no row can ever appear before a
cursor that was handed out. The cursor is the (xid, position) of the last row served; the
same cursor always gives the same next rows, also across restarts of anything.

Order per order. xid8 ids are handed out in increasing order when a transaction first writes.
The write path (projector/apply.py) takes its orders' locks before its first write, and a
writer of an order waits for the previous one's commit, so a later change of an order always
has a larger xid: every order's events come in sequence. Across orders the feed may list two
events in the order their transactions started writing rather than committed, which no
follower can tell apart: each order's events are in order and none is ever skipped.

The price: a row waits until every transaction that began writing before its own has ended,
anywhere on the server; a long-running write transaction (or one left idle in transaction)
holds the feed back, never loses rows. Waits are short polls (README "Time and history").
"""

import base64
import binascii
import re
from dataclasses import dataclass

from orderstate.api.history import LoggedRow, logged_row
from orderstate.projector.connection import Conn
from orderstate.projector.queries import query

__all__ = ["START", "Cursor", "CursorError", "changes_after"]

_FORM = re.compile(r"^c1\.(\d{1,20})\.(\d{1,19})$")


class CursorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Cursor:
    """A place in the feed: after the row (xid, position). Opaque to clients."""

    xid: int
    position: int

    def encode(self) -> str:
        text = f"c1.{self.xid}.{self.position}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> "Cursor":
        try:
            padded = value + "=" * (-len(value) % 4)
            text = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise CursorError("not a cursor this feed gave out") from None
        match = _FORM.match(text)
        if match is None:
            raise CursorError("not a cursor this feed gave out")
        xid, position = int(match[1]), int(match[2])
        if xid >= 2**64 or position >= 2**63:
            raise CursorError("not a cursor this feed gave out")
        return cls(xid, position)


START = Cursor(0, 0)


async def changes_after(
    conn: Conn, shop_id: str, cursor: Cursor, limit: int
) -> tuple[list[LoggedRow], Cursor]:
    """The shop's next events after ``cursor``, and the cursor after them."""
    rows = await conn.fetch(query("changes_page"), shop_id, str(cursor.xid), cursor.position, limit)
    if not rows:
        return [], cursor
    last = rows[-1]
    return [logged_row(r) for r in rows], Cursor(int(last["xid"]), last["position"])
