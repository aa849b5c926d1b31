"""/v2/problems/{code}: every problem's `type` resolves to its reason-code page."""

from pathlib import Path

import pytest
from fastapi import HTTPException
from httpx import ASGITransport, AsyncClient

from orderstate.api.app import create_api
from orderstate.api.problem_pages import render
from orderstate.api.problems import ALL_CODES, problem_title, status_of
from tests.support.api import Api, order_body

DOCS = Path(__file__).resolve().parents[3] / "docs" / "reasons"


@pytest.mark.parametrize("code", ALL_CODES)
async def test_every_code_has_its_page_as_html_without_credentials(api: Api, code: str) -> None:
    """No credentials, HTML by default, titled like the problems that link to it."""
    answer = await api.client.get(f"/v2/problems/{code}")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["vary"] == "Accept"
    assert f"<h1>{problem_title(code)}</h1>" in answer.text
    assert f"<code>{code}</code>" in answer.text


@pytest.mark.parametrize("code", ALL_CODES)
async def test_every_code_has_its_page_as_json(api: Api, code: str) -> None:
    """Accept: application/json gives code, title, status and the page's markdown."""
    answer = await api.client.get(f"/v2/problems/{code}", headers={"Accept": "application/json"})

    assert answer.status_code == 200
    assert answer.json() == {
        "code": code,
        "title": problem_title(code),
        "status": status_of(code),
        "markdown": (DOCS / f"{code}.md").read_text(encoding="utf-8"),
    }


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("", "text/html"),
        ("*/*", "text/html"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/json;q=0.5, text/html", "text/html"),
        ("application/json, text/html;q=0.5", "application/json"),
        ("application/*", "application/json"),
        ("image/png", "text/html"),
        ("not a media type", "text/html"),
    ],
)
async def test_the_accept_header_chooses_html_or_json(
    api: Api, accept: str, media_type: str
) -> None:
    answer = await api.client.get("/v2/problems/order_closed", headers={"Accept": accept})

    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == media_type


async def test_an_unknown_code_is_a_not_found_problem(api: Api) -> None:
    answer = await api.client.get("/v2/problems/no_such_code")

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "not_found"
    assert answer.json()["type"] == "/v2/problems/not_found"
    assert answer.json()["detail"].startswith("no problem type 'no_such_code'")


async def test_a_problem_type_resolves_against_the_request_url(api: Api) -> None:
    """The relative `type` of a real rejection, resolved as RFC 3986 says, is its page."""
    headers = await api.as_shop("shop-a")
    await api.client.post("/v2/orders", json=order_body("A-1"), headers=headers)
    refund = {"order_id": "A-1", "state": "refunded", "datetime": "2026-11-21T10:00:00Z"}
    rejected = await api.client.post("/v2/order-states", json=refund, headers=headers)

    page = await api.client.get(rejected.url.join(rejected.json()["type"]))

    assert rejected.status_code == 409
    assert page.status_code == 200
    assert page.url.path == "/v2/problems/refund_before_return_or_cancel"
    assert "<h1>Refund before return or cancel</h1>" in page.text


async def test_pages_link_to_other_codes_and_drop_links_the_api_does_not_serve(api: Api) -> None:
    """unknown_order.md links not_found.md and ../lifecycle.md#rule-9; only the first is served."""
    answer = await api.client.get("/v2/problems/unknown_order")

    assert '<a href="not_found"><code>not_found</code></a>' in answer.text
    assert "lifecycle.md" not in answer.text
    assert "(rule 9)" in answer.text


async def test_html_pages_forbid_scripts(api: Api) -> None:
    """The pages need no script and load nothing: the CSP says so."""
    answer = await api.client.get("/v2/problems/unauthorized")

    assert answer.headers["content-security-policy"].startswith("default-src 'none'")


def test_raw_html_in_a_page_is_escaped() -> None:
    html = render("# T\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](../events.md)")

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html
    assert "events.md" not in html


async def test_an_http_error_without_a_code_of_its_own_is_http_error(api: Api) -> None:
    """What the HTTP layer refuses for another reason keeps its status and gets a page."""
    app = create_api(api.context)

    @app.get("/v2/broken")
    async def broken() -> None:
        raise HTTPException(status_code=400, detail="There was an error parsing the body")

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/v2/broken")

    assert answer.status_code == 400
    assert answer.json() == {
        "type": "/v2/problems/http_error",
        "title": "HTTP error",
        "status": 400,
        "detail": "There was an error parsing the body",
        "code": "http_error",
        "instance": "/v2/broken",
    }
