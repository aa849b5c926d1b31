"""The named SQL statements of orderstate, loaded once from the ``.sql`` files in ``sql/``:
``queries.sql`` for the write path, and one file per other area (API keys, REST reads,
idempotency, the migration runner, the simulation, the order monitor's alerts). SQL is
reviewed as SQL, and no statement is ever assembled from input.

Each statement starts with ``-- name: <name>``; names are unique across the files. The only
SQL composed in Python is the WHERE clause of the three REST list requests (api/reads.py,
api/shipment_reads.py and api/alert_reads.py), from fixed fragments with every value bound as
a parameter; the read of one order, a named head and the named ``order_read`` joined
(api/reads.py); and the batch's write statement without the tables a batch does not write
(projector/write_statement.py), cut from ``write_batch`` by which arrays are empty.
"""

import re
from importlib import resources

__all__ = ["QUERIES", "query"]

_HEADER = re.compile(r"^-- name: ([a-z_]+)\s*$", re.M)


def _parse(text: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip()
        queries[name] = sql.rstrip(";")
    return queries


def _load() -> dict[str, str]:
    folder = resources.files("orderstate.projector") / "sql"
    queries: dict[str, str] = {}
    where: dict[str, str] = {}
    for file in sorted(folder.iterdir(), key=lambda f: f.name):
        if not file.name.endswith(".sql"):
            continue
        for name, sql in _parse(file.read_text(encoding="utf-8")).items():
            if name in queries:
                raise ValueError(f"query {name!r} is named in both {where[name]} and {file.name}")
            queries[name], where[name] = sql, file.name
    return queries


QUERIES = _load()


def query(name: str) -> str:
    return QUERIES[name]
