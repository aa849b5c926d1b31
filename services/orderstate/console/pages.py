"""Rendering the console's pages: the Jinja2 templates of this package, every value escaped,
and the headers every page carries."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = ["HTMX", "render", "session_length"]

# The vendored htmx (static/), named with its version so a browser never keeps an old copy.
HTMX = "htmx-2.0.11.min.js"

# Only this origin's scripts, styles and images; nothing inline, no frames of the console on
# other sites. htmx's own indicator style is switched off in base.html so it needs no inline
# style.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show a shop's data: no shared cache keeps them, and Back after logout re-asks.
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _path(value: str) -> str:
    """A reference as one path segment: '/', '#', '?', spaces and any letter encoded."""
    return quote(value, safe="")


_ENV = Environment(
    loader=PackageLoader("orderstate.console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["when"] = _when
_ENV.filters["iso"] = _iso
_ENV.filters["path"] = _path
_ENV.globals["htmx"] = HTMX


def session_length(seconds: int) -> str:
    """ORDERSTATE_TOKEN_TTL_S in words, as the login page says how long a session lasts."""
    count, unit = seconds, "second"
    for name, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count, unit = seconds // size, name
            break
    return f"one {unit}" if count == 1 else f"{count} {unit}s"


def render(
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    html = _ENV.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status_code, headers={**_HEADERS, **(headers or {})})
