"""The batch's write statement cut to the tables it writes.

``write_batch`` (queries.sql) holds one data-modifying CTE per table. A small batch writes
to a few of them, yet PostgreSQL starts up every sub-statement it is sent, opening and
locking each table and its indexes, and asyncpg encodes every array, empty or not. So a batch
sends the statement without the CTEs it has no rows for, its parameters renumbered.

Only the fixed text of ``write_batch`` is cut, by which of its parts have rows, never by
their values; each cut is built once per process and prepared once per connection (asyncpg's
statement cache), so every batch of the same shape runs on one plan.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from orderstate.projector.queries import query

__all__ = ["PARTS", "WriteStatement", "is_write_statement", "statement_with", "write_statement"]

# Each CTE of write_batch starts on a line of its own: "WITH name AS (" or "), name AS (".
_CTE = re.compile(r"^(?:WITH|\),) (\w+) AS \($", re.M)
_END = re.compile(r"^\)$", re.M)
_PARAMETER = re.compile(r"\$(\d+)")
_ARRAY = re.compile(r"\$(\d+)::\w+\[\]")


@dataclass(frozen=True, slots=True)
class _Part:
    name: str
    body: str
    # Its first array parameter ("$n::type[]"), or None: the part writes rows only when
    # that array has any. Its other arrays are its other columns or, for a delete, the rows
    # the orders it names keep.
    driver: int | None


@dataclass(frozen=True, slots=True)
class WriteStatement:
    sql: str
    # write_batch's parameter numbers this statement takes, in its own order ($1, $2, ...).
    parameters: tuple[int, ...]

    def arguments(self, full: Sequence[Any]) -> list[Any]:
        """Pick this statement's arguments from write_batch's (``full[0]`` is $1)."""
        return [full[n - 1] for n in self.parameters]


def _split(sql: str) -> tuple[list[_Part], str]:
    pieces = _CTE.split(sql)
    if pieces[0].strip() or len(pieces) < 3:
        raise ValueError("write_batch must be one WITH of named CTEs and a final statement")
    *bodies, last = pieces[2::2]
    ends = list(_END.finditer(last))
    if not ends:
        raise ValueError("write_batch's last CTE has no closing line")
    bodies.append(last[: ends[-1].start()])
    final = last[ends[-1].end() :].strip()
    parts = [
        _Part(name, body, int(first.group(1)) if (first := _ARRAY.search(body)) else None)
        for name, body in zip(pieces[1::2], bodies, strict=True)
    ]
    return parts, final


_PARTS, _FINAL = _split(query("write_batch"))
# The CTEs' names, one per table written (items and shipments have two: deleted, upserted).
PARTS = tuple(p.name for p in _PARTS)
_BUILT: set[str] = set()


def write_statement(arguments: Sequence[Any]) -> WriteStatement:
    """write_batch without the CTEs that have no rows to write. ``arguments`` are
    write_batch's, $1 first. A CTE with no array parameter is always kept."""
    return statement_with(
        frozenset(p.name for p in _PARTS if p.driver is None or arguments[p.driver - 1])
    )


@cache
def statement_with(kept: frozenset[str]) -> WriteStatement:
    """write_batch with only the CTEs named in ``kept`` (and its final notify)."""
    unknown = kept - set(PARTS)
    if unknown:
        raise ValueError(f"write_batch has no part {sorted(unknown)}; it has {list(PARTS)}")
    parts = [p for p in _PARTS if p.name in kept]
    ctes = ",\n".join(f"{p.name} AS ({p.body})" for p in parts)
    text = f"WITH {ctes}\n{_FINAL}" if parts else _FINAL
    used = sorted({int(n) for n in _PARAMETER.findall(text)})
    renumbered = {old: new for new, old in enumerate(used, start=1)}
    sql = _PARAMETER.sub(lambda m: f"${renumbered[int(m.group(1))]}", text)
    _BUILT.add(sql)
    return WriteStatement(sql=sql, parameters=tuple(used))


def is_write_statement(sql: str) -> bool:
    """Whether ``sql`` is a cut of write_batch this process built (for statement logs)."""
    return sql in _BUILT
