"""What the console's pages say of the settings they depend on."""

import pytest

from orderstate.console.pages import render, session_length


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (3600, "one hour"),
        (7200, "2 hours"),
        (900, "15 minutes"),
        (60, "one minute"),
        (90, "90 seconds"),
    ],
)
def test_a_session_length_in_words(seconds: int, words: str) -> None:
    assert session_length(seconds) == words


def test_the_login_page_says_how_long_the_session_lasts() -> None:
    # It said "one hour" whatever ORDERSTATE_TOKEN_TTL_S was.
    page = render("login.html", title="Log in", session=None, next="/ui/", lasts="15 minutes")
    assert "a session that lasts 15 minutes;" in bytes(page.body).decode()
