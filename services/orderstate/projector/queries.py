"""The named queries of ``sql/queries.sql``, loaded once: SQL is reviewed as SQL, and no
statement is ever assembled from input."""

import re
from importlib import resources

__all__ = ["QUERIES", "named_queries", "query"]

_HEADER = re.compile(r"^-- name: ([a-z_]+)\s*$", re.M)


def named_queries(package: str) -> dict[str, str]:
    """The ``-- name: ...`` queries of ``sql/queries.sql`` in ``package``."""
    text = (resources.files(package) / "sql" / "queries.sql").read_text()
    parts = _HEADER.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip()
        queries[name] = sql.rstrip(";")
    return queries


QUERIES = named_queries("orderstate.projector")


def query(name: str) -> str:
    return QUERIES[name]
