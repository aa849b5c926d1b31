"""The console's checks of where a login form came from and where it may lead."""

from starlette.requests import Request

from orderstate.console.session import from_own_page, safe_next


def _post(headers: dict[str, str]) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "path": "/ui/login",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000")]
            + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )


def test_a_post_counts_as_the_consoles_own_only_when_the_browser_says_so() -> None:
    assert from_own_page(_post({"Sec-Fetch-Site": "same-origin"}))
    assert from_own_page(_post({"Origin": "http://127.0.0.1:8000"}))
    # Sec-Fetch-Site decides where a browser sends it, whatever Origin says.
    assert not from_own_page(
        _post({"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:8000"})
    )
    assert not from_own_page(_post({"Sec-Fetch-Site": "cross-site"}))
    assert not from_own_page(_post({"Sec-Fetch-Site": "none"}))
    assert not from_own_page(_post({"Origin": "http://127.0.0.1:8001"}))
    assert not from_own_page(_post({"Origin": "null"}))
    assert not from_own_page(_post({}))


def test_after_login_only_console_paths_are_followed() -> None:
    assert safe_next("/ui/orders?state=paid") == "/ui/orders?state=paid"
    for elsewhere in (None, "", "https://evil.example/ui/", "//evil.example/ui/", "/v2/orders"):
        assert safe_next(elsewhere) == "/ui/"
