"""/v2/problems/{code}: the page a problem's ``type`` points to, as HTML or JSON.

No credentials: a client that got a problem, or its developer with a browser, must be able
to read what it means. HTML unless the ``Accept`` header prefers ``application/json``.
"""

import mimeparse
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from orderstate.api.problem_pages import problem_doc
from orderstate.api.problems import ApiCode, Problem, ProblemError
from orderstate.api.routes._common import json_response

__all__ = ["router"]

router = APIRouter(tags=["problems"])

# Pages change only with a release; Vary because one URL has two representations.
_HEADERS = {"Cache-Control": "public, max-age=3600", "Vary": "Accept"}
# The HTML carries no script and loads nothing; it needs only its inline style.
_HTML_HEADERS = {
    **_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
# In increasing preference: HTML wins a tie, such as */* or no Accept header at all.
_OFFERED = ["application/json", "text/html"]


class ProblemPage(BaseModel):
    code: str
    title: str = Field(description="The problem's title, as in every problem with this code.")
    status: int = Field(description="The HTTP status of a REST answer with this code.")
    markdown: str = Field(description="The page: what causes the code and how to fix it.")


@router.get(
    "/v2/problems/{code}",
    response_model=ProblemPage,
    responses={
        200: {
            "description": "The page of the code: HTML by default, JSON when the Accept "
            "header prefers application/json.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        404: {"model": Problem, "description": "No such code."},
    },
)
async def problem_page(code: str, request: Request) -> Response:
    """What a reason code means, what causes it and how to fix it: the target of the `type`
    of every problem response."""
    doc = problem_doc(code)
    if doc is None:
        raise ProblemError(
            ApiCode.NOT_FOUND,
            f"no problem type {code[:64]!r}; the codes are the enum of Problem.code in "
            "/v2/openapi.json",
        )
    if _prefers_json(request.headers.get("accept", "")):
        page = ProblemPage(code=doc.code, title=doc.title, status=doc.status, markdown=doc.markdown)
        return json_response(page, headers=_HEADERS)
    return HTMLResponse(doc.html, headers=_HTML_HEADERS)


def _prefers_json(accept: str) -> bool:
    try:
        best: str = mimeparse.best_match(_OFFERED, accept)
    except ValueError:
        # An Accept header that cannot be parsed is ignored (RFC 9110 12.5.1).
        return False
    return best == "application/json"
