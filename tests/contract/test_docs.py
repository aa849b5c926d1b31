"""docs/ is the reference the code cites: every cited rule exists, every reason code has a page.

Rule citations are found in every form the code uses ("rule 3", "Rules 1-4 and 8", ranges
with an en dash, "rules 8, 9, 10", "rule 2 or 8", links to lifecycle.md#rule-N) in
services/, tests/, bench/, docs/ and the README, and each number must be a "### Rule N"
heading of docs/lifecycle.md.
"""

import re
from pathlib import Path

import pytest

from orderstate.api.problems import ApiCode, problem_title, status_of
from orderstate.domain import ReasonCode
from tests.unit.domain.test_policy_table import COLUMNS, DEFAULT_OUTCOMES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REASONS = DOCS / "reasons"
LIFECYCLE = DOCS / "lifecycle.md"

_SCANNED_DIRS = ("services", "tests", "bench", "docs", "deploy")
_SCANNED_SUFFIXES = {".py", ".sql", ".md", ".yaml", ".yml", ".sh", ".tpl", ".txt", ".toml"}
# Applied migrations are checksummed and may never change, so 0001 keeps its old comment.
_FROZEN = {ROOT / "services/orderstate/projector/migrations/0001_read_model.sql"}

_CITATION = re.compile(
    r"\brules?\s+(\d+(?:\s*(?:[-\u2013,]|\band\b|\bor\b|\bto\b)\s*\d+)*)", re.IGNORECASE
)
_ANCHOR = re.compile(r"lifecycle\.md#rule-(\d+)")
_RANGE = re.compile(r"(\d+)\s*(?:[-\u2013]|\bto\b)\s*(\d+)")
_HEADING = re.compile(r"^### Rule (\d+)\s*$", re.MULTILINE)
_STATUS_LINE = re.compile(r"\*\*HTTP status\*\* (\d{3})")


def cited_rules(text: str) -> set[int]:
    """Every rule number a text cites, ranges expanded."""
    numbers = {int(n) for n in _ANCHOR.findall(text)}
    for group in _CITATION.findall(text):
        for low, high in _RANGE.findall(group):
            numbers.update(range(int(low), int(high) + 1))
        numbers.update(int(n) for n in re.findall(r"\d+", group))
    return numbers


def numbered_rules(text: str) -> list[int]:
    return [int(n) for n in _HEADING.findall(text)]


def missing_rules(texts: dict[str, str], numbered: set[int]) -> list[str]:
    return sorted(
        f"{where}: rule {n}" for where, text in texts.items() for n in cited_rules(text) - numbered
    )


def scanned_texts() -> dict[str, str]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "Makefile"]
    for folder in _SCANNED_DIRS:
        files += [
            p
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in _SCANNED_SUFFIXES and "__pycache__" not in p.parts
        ]
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files}


def test_lifecycle_rules_are_numbered_from_one_without_gaps() -> None:
    numbers = numbered_rules(LIFECYCLE.read_text(encoding="utf-8"))

    assert numbers, "docs/lifecycle.md has no '### Rule N' headings"
    assert numbers == list(range(1, len(numbers) + 1))


def test_every_cited_rule_is_a_rule_of_the_lifecycle_doc() -> None:
    texts = scanned_texts()
    numbered = set(numbered_rules(LIFECYCLE.read_text(encoding="utf-8")))
    citing = {where for where, text in texts.items() if cited_rules(text)}

    assert missing_rules(texts, numbered) == []
    # The scan sees the citations it is meant to check (a broken pattern would find none).
    assert any(where.startswith("services/") for where in citing)
    assert any(where.startswith("tests/unit/") for where in citing)


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("rule 3", {3}),
        ("Rules 1-4 and 8", {1, 2, 3, 4, 8}),
        ("rules 2 and 5\u20138", {2, 5, 6, 7, 8}),
        ("rules 8, 9, 10", {8, 9, 10}),
        ("rule 2 or 8", {2, 8}),
        ("Rules 1, 2, 7, 8", {1, 2, 7, 8}),
        ("rules 2 to 4", {2, 3, 4}),
        ("DESIGN rule 9", {9}),
        ("see [rule 10](../lifecycle.md#rule-10)", {10}),
        ("rule 1 and the table", {1}),
        ("ruff rule S608, PLR0911", set()),
    ],
)
def test_citations_are_recognised_in_every_form(text: str, rules: set[int]) -> None:
    assert cited_rules(text) == rules


def test_a_citation_of_a_missing_rule_is_reported() -> None:
    """The check can fail: a rule past the last one, or one removed from the doc."""
    numbered = set(numbered_rules(LIFECYCLE.read_text(encoding="utf-8")))
    beyond = max(numbered) + 1

    assert missing_rules({"a.py": f"# see rule {beyond}"}, numbered) == [f"a.py: rule {beyond}"]
    assert missing_rules({"b.py": "rules 4-6"}, numbered - {5}) == ["b.py: rule 5"]


@pytest.mark.parametrize("code", [*ReasonCode, *ApiCode], ids=str)
def test_every_reason_and_api_code_has_its_page(code: str) -> None:
    assert (REASONS / f"{code}.md").is_file(), f"docs/reasons/{code}.md is missing"


def _pages() -> list[Path]:
    return sorted(p for p in REASONS.glob("*.md") if p.name != "README.md")


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.stem)
def test_a_reason_page_is_titled_like_its_problems_and_has_every_section(page: Path) -> None:
    """Pages of codes the enums do not have yet are held to the same form. A page states the
    HTTP status once its code has one; a stated status must be the one the API answers with."""
    code = page.stem
    text = page.read_text(encoding="utf-8")

    assert text.splitlines()[0] == f"# {problem_title(code)}"
    assert f"`{code}`" in text.split("\n## ", 1)[0]
    for section in ("## What causes it", "## Example", "## How to fix it"):
        assert section in text, f"{page.name} lacks {section!r}"
    stated = _STATUS_LINE.search(text)
    if stated is not None:
        assert int(stated[1]) == status_of(code)


def test_the_reasons_index_links_every_page() -> None:
    index = (REASONS / "README.md").read_text(encoding="utf-8")

    assert [p.name for p in _pages() if f"]({p.name})" not in index] == []


def test_the_lifecycle_outcome_table_is_the_tested_one() -> None:
    """The table in docs/lifecycle.md is the literal table tests/unit checks cell by cell."""
    rows = {}
    for line in LIFECYCLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| **") and len(cells) == len(COLUMNS) + 1:
            rows[cells[0].strip("*")] = tuple(cells[1:])

    assert rows == DEFAULT_OUTCOMES


def test_nothing_points_outside_the_repository() -> None:
    """The rules live in docs/: no file refers to a design file or folder beside the clone."""
    outside = re.compile(r"DESIGN\.md|DESIGN rules?\b|\.\./shared|/work/shared")
    this_file = str(Path(__file__).relative_to(ROOT))
    offending = [
        f"{where}: {match.group(0)}"
        for where, text in scanned_texts().items()
        if ROOT / where not in _FROZEN and where != this_file
        for match in outside.finditer(text)
    ]

    assert offending == []
