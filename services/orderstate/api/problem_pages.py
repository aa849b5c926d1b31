"""The reason-code pages of ``docs/reasons``, as the API serves them at ``/v2/problems/{code}``.

The markdown ships inside the package (the wheel force-includes ``docs/`` as
``orderstate/docs``); an editable install reads the repository's ``docs/``. A page is
rendered to HTML once per process, with raw HTML in the markdown escaped. Links to other
reason pages become links to their route; links to the rest of ``docs/``, which the API
does not serve, become plain text.
"""

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from orderstate.api.problems import ALL_CODES, problem_title, status_of

__all__ = ["ProblemDoc", "problem_doc", "reasons_folder", "render"]

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_SIBLING_PAGE = re.compile(r"^([a-z_]+)\.md(#[\w-]*)?$")
_SERVED = frozenset(ALL_CODES)

_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · orderstate</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; }}
pre {{ overflow-x: auto; background: #f4f4f4; padding: 0.75rem; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.25rem; }}
</style>
</head>
<body>
<main>
{body}</main>
</body>
</html>
"""


@dataclass(frozen=True, slots=True)
class ProblemDoc:
    code: str
    title: str
    status: int
    markdown: str
    html: str


def reasons_folder() -> Traversable:
    packaged = resources.files("orderstate") / "docs" / "reasons"
    if packaged.is_dir():
        return packaged
    # An editable install runs from the repository: services/orderstate/api/ -> docs/.
    return Path(__file__).resolve().parents[3] / "docs" / "reasons"


def problem_doc(code: str) -> ProblemDoc | None:
    """The page of a code the API can answer with; None for any other string."""
    # Checked before the cache, so that strings clients make up are never kept.
    return _load(code) if code in _SERVED else None


@functools.cache
def _load(code: str) -> ProblemDoc | None:
    page = reasons_folder() / f"{code}.md"
    if not page.is_file():
        return None
    text = page.read_text(encoding="utf-8")
    title = problem_title(code)
    return ProblemDoc(
        code=code,
        title=title,
        status=status_of(code),
        markdown=text,
        html=_HTML.format(title=escape(title), body=render(text)),
    )


def render(text: str) -> str:
    """A page's markdown as an HTML fragment, with links rewritten for the API."""
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        if token.children:
            token.children = list(_served_links(token.children))
    rendered: str = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    return rendered


def _served_links(children: list[Token]) -> Iterator[Token]:
    # CommonMark links do not nest, so one flag pairs each link_close with its link_open.
    unlinked = False
    for token in children:
        if token.type == "link_open":
            target = _served_target(str(token.attrGet("href") or ""))
            unlinked = target is None
            if target is not None:
                token.attrSet("href", target)
                yield token
        elif token.type == "link_close":
            if not unlinked:
                yield token
            unlinked = False
        else:
            yield token


def _served_target(href: str) -> str | None:
    """Where a link of a page points when the API serves it, or None to drop the link."""
    if "://" in href or href.startswith("#"):
        return href
    sibling = _SIBLING_PAGE.match(href)
    if sibling is not None and sibling[1] in _SERVED:
        # Relative to /v2/problems/<code>, so it resolves to the sibling's route.
        return sibling[1] + (sibling[2] or "")
    return None
