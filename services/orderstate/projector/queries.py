"""The named SQL statements of orderstate, loaded once from the ``.sql`` files in ``sql/``:
``queries.sql`` for the write path, and one file per other area (API keys, REST reads,
idempotency, the migration runner, the simulation, the order monitor's alerts). SQL is
reviewed as SQL, and no statement is ever assembled from input.

Each statement starts with ``-- name: <name>``, each piece of one with ``-- fragment: <name>``;
names are unique across the files. Fragments are never run alone. The only SQL composed in
Python is the WHERE clause of the three REST list requests (api/reads.py,
api/shipment_reads.py and api/alert_reads.py), from fixed fragments with every value bound as
a parameter; the read of one order, a named head and the ``order_read`` fragment joined
(api/reads.py); and the batch's write statement without the tables a batch does not write
(projector/write_statement.py), cut from ``write_batch`` by which arrays are empty.
"""

import re
from importlib import resources

__all__ = ["FRAGMENTS", "QUERIES", "fragment", "query"]

_HEADER = re.compile(r"^-- (name|fragment): ([a-z_]+)\s*$", re.M)


def _parse(text: str) -> dict[str, tuple[str, str]]:
    """Each named piece of ``text`` as (kind, SQL): kind "name" or "fragment"."""
    parts = _HEADER.split(text)
    # parts = [preamble, kind1, name1, body1, kind2, name2, body2, ...]
    pieces = {}
    for kind, name, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        sql = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip()
        pieces[name] = (kind, sql.rstrip(";"))
    return pieces


def _load() -> tuple[dict[str, str], dict[str, str]]:
    folder = resources.files("orderstate.projector") / "sql"
    found: dict[str, dict[str, str]] = {"name": {}, "fragment": {}}
    where: dict[str, str] = {}
    for file in sorted(folder.iterdir(), key=lambda f: f.name):
        if not file.name.endswith(".sql"):
            continue
        for name, (kind, sql) in _parse(file.read_text(encoding="utf-8")).items():
            if name in where:
                raise ValueError(f"query {name!r} is named in both {where[name]} and {file.name}")
            found[kind][name], where[name] = sql, file.name
    return found["name"], found["fragment"]


QUERIES, FRAGMENTS = _load()


def query(name: str) -> str:
    return QUERIES[name]


def fragment(name: str) -> str:
    return FRAGMENTS[name]
