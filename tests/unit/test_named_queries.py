"""The named queries and fragments of projector/sql/*.sql and the code that runs them agree:
every one is used, and every name the code asks for exists."""

import ast
from pathlib import Path

from orderstate.projector.queries import FRAGMENTS, QUERIES

NAMED = set(QUERIES) | set(FRAGMENTS)

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "orderstate"


def _modules() -> list[ast.Module]:
    return [ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def _is_query_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("query", "fragment")
        and len(node.args) == 1
    )


def _constants(tree: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _used_names() -> tuple[set[str], set[str]]:
    """Names the code passes to ``query`` or ``fragment``: literals, and for ``query(name)`` or
    ``query(f"prefix_{x}")`` the matching string constants of the same module. The second
    set holds the literals only, which must all exist."""
    used: set[str] = set()
    literal: set[str] = set()
    for tree in _modules():
        constants = _constants(tree)
        for node in ast.walk(tree):
            if not _is_query_call(node):
                continue
            assert isinstance(node, ast.Call)
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                literal.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                prefix = str(arg.values[0].value)
                used |= {prefix + c for c in constants}
            else:
                used |= constants
    return used | literal, literal


def test_every_name_the_code_asks_for_exists() -> None:
    _, literal = _used_names()
    assert literal, "no query('...') call found: the scan is broken"
    assert sorted(literal - NAMED) == []


def test_every_named_query_is_used() -> None:
    used, _ = _used_names()
    assert sorted(NAMED - used) == []


def test_no_statement_is_empty() -> None:
    pieces = {**QUERIES, **FRAGMENTS}
    assert [name for name, sql in pieces.items() if not sql.strip()] == []
