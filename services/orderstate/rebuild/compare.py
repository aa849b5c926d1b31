"""Two projections of the same inbound log, compared order by order (``orderstate verify``).

An order's projection is everything the write path keeps about it: the view (without the
wall-clock fields ``created_at``, ``updated_at`` and each history entry's ``recorded_at``),
its last sequence, tags, items, shipments, state history, rejections, parked events and the
identities of its logged events. Wall-clock fields differ between any two runs by design
(docs/reliability.md, "Same log, same orders") and are left out.

Both databases are read in chunks of keys in the order of their primary keys, so memory stays
bounded and each chunk is one range query per table and database, on its index. Keys come
from ``orders``, ``rejected_events`` and ``parked_events``: a rejected or parked event may
belong to an order that does not exist.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from orderstate.projector.connection import Conn
from orderstate.projector.queries import query
from orderstate.projector.stored_views import parse_view

__all__ = [
    "PARTS",
    "Compared",
    "FieldDifference",
    "OrderDifference",
    "compare",
    "count_orders",
    "order_differences",
    "rejection_identity",
]

Key = tuple[str, str]
# What each order is compared by; ``--ignore`` leaves parts out.
PARTS = ("view", "tags", "items", "shipments", "history", "rejections", "parked", "events")
_VIEW_CLOCK = ("created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class FieldDifference:
    name: str
    live: Any
    rebuilt: Any


@dataclass(frozen=True, slots=True)
class OrderDifference:
    shop_id: str
    order_id: str
    fields: list[FieldDifference]


@dataclass(slots=True)
class Compared:
    keys: int = 0
    differing: int = 0
    only_live: int = 0
    only_rebuilt: int = 0
    by_part: Counter[str] = field(default_factory=Counter)


async def count_orders(conn: Conn) -> int:
    return int(await conn.fetchval(query("rebuild_count_orders")))


async def compare(
    live: Conn,
    rebuilt: Conn,
    *,
    ignore: Iterable[str] = (),
    chunk: int = 1_000,
    on_difference: Callable[[OrderDifference], None],
    on_progress: Callable[[int], None],
) -> Compared:
    """Compare every order; report each differing one to ``on_difference`` and the number of
    orders compared per chunk to ``on_progress``."""
    parts = [p for p in PARTS if p not in set(ignore)]
    result = Compared()
    after: Key = ("", "")
    while True:
        keys = await _next_chunk(live, rebuilt, after, chunk)
        if not keys:
            return result
        bounds = (*after, *keys[-1])
        left = await _read(live, bounds)
        right = await _read(rebuilt, bounds)
        for key in keys:
            result.keys += 1
            a, b = left.get(key), right.get(key)
            if a is None or b is None:
                result.only_live += b is None
                result.only_rebuilt += a is None
            found = order_differences(a or {}, b or {}, parts)
            if found:
                result.differing += 1
                result.by_part.update({f.name.split(".")[0].split("[")[0] for f in found})
                on_difference(OrderDifference(key[0], key[1], found))
        on_progress(sum(1 for k in keys if "orders" in left.get(k, {}) | right.get(k, {})))
        after = keys[-1]


async def _next_chunk(live: Conn, rebuilt: Conn, after: Key, chunk: int) -> list[Key]:
    found = [
        (r["shop_id"], r["order_id"])
        for conn in (live, rebuilt)
        for r in await conn.fetch(query("rebuild_next_keys"), *after, chunk)
    ]
    if not found:
        return []
    rows = await live.fetch(
        query("rebuild_first_keys"), [k[0] for k in found], [k[1] for k in found], chunk
    )
    return [(r["shop_id"], r["order_id"]) for r in rows]


async def _read(conn: Conn, bounds: tuple[str, str, str, str]) -> dict[Key, dict[str, Any]]:
    """Per order in the range, each part as a comparable value (dicts keyed by what
    identifies a row, so differences can name the row)."""
    orders: dict[Key, dict[str, Any]] = {}

    def part(row: Any, name: str) -> Any:
        return orders.setdefault((row["shop_id"], row["order_id"]), {}).setdefault(name, {})

    for r in await conn.fetch(query("rebuild_range_orders"), *bounds):
        key = (r["shop_id"], r["order_id"])
        view = json.loads(r["view"])
        if "history" in view:
            # Stored before migration 0009, with its entries: compare the form stored now
            # (the entries are compared as the history part).
            view = json.loads(parse_view(r["view"]).model_dump_json())
        for name in _VIEW_CLOCK:
            view.pop(name, None)
        orders.setdefault(key, {})["orders"] = True
        part(r, "view").update(view)
        part(r, "view")["last_sequence"] = r["last_sequence"]
        part(r, "tags").update(json.loads(r["tags"]))
    for r in await conn.fetch(query("rebuild_range_items"), *bounds):
        part(r, "items")[r["item_id"]] = _rest(r, "item_id")
    for r in await conn.fetch(query("rebuild_range_shipments"), *bounds):
        part(r, "shipments")[r["shipment_id"]] = _rest(r, "shipment_id")
    for r in await conn.fetch(query("rebuild_range_history"), *bounds):
        part(r, "history")[r["seq"]] = _rest(r, "seq")
    for r in await conn.fetch(query("rebuild_range_rejections"), *bounds):
        rejections = part(r, "rejections")
        identity = rejection_identity(r)
        rejections[identity] = rejections.get(identity, 0) + 1
    for r in await conn.fetch(query("rebuild_range_parked"), *bounds):
        part(r, "parked")[(r["source"], r["event_id"])] = _rest(r, "source", "event_id")
    events: dict[Key, dict[int, Any]] = {}
    for r in await conn.fetch(query("rebuild_range_events"), *bounds):
        events.setdefault((r["shop_id"], r["order_id"]), {})[r["sequence"]] = _rest(r, "sequence")
    for key, logged in events.items():
        orders.setdefault(key, {})["events"] = logged
    return orders


def _rest(row: Any, *identity: str) -> dict[str, Any]:
    """A row without its order key and identity columns, JSON-ready."""
    skip = {"shop_id", "order_id", *identity}
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in row.items()
        if k not in skip
    }


def rejection_identity(row: Any) -> str:
    """A rejection by its event (source and id), or, for a record that was not an event
    (malformed), by its place in the log. Not by the place of an event: a REST write
    rejected live is rejected again in a replay from the record it was logged as."""
    if row["event_id"] is not None:
        return f"{row['source']} {row['event_id']} {row['event_type']}: {row['reason']}"
    original = json.loads(row["original"])
    place = f"{original.get('topic')}[{original.get('partition')}]@{original.get('offset')}"
    return f"{place}: {row['reason']}"


def order_differences(
    live: dict[str, Any], rebuilt: dict[str, Any], parts: list[str]
) -> list[FieldDifference]:
    found = []
    for name in parts:
        a, b = live.get(name, {}), rebuilt.get(name, {})
        if name == "events":
            # The live log may start later than the order, or hold none of it (orders older
            # than migration 8): compare from its first event. A change missing on one side
            # shows in the view's last_sequence anyway.
            start = min(a, default=None)
            b = {} if start is None else {s: v for s, v in b.items() if s >= start}
        if a == b:
            continue
        if name in ("view", "tags") and not (a and b):
            found.append(FieldDifference(name, a or None, b or None))
            continue
        # One kind of key per part (sequence numbers, ids, pairs of ids): sortable as such.
        for item in sorted(set(a) | set(b)):
            if a.get(item) != b.get(item):
                found.append(
                    FieldDifference(
                        f"{name}[{item}]" if name != "view" else f"view.{item}",
                        a.get(item),
                        b.get(item),
                    )
                )
    return found
