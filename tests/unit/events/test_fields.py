"""Field types that parse more than their pattern says."""

import pytest
from pydantic import TypeAdapter, ValidationError

from orderstate.events.fields import Url

_URL = TypeAdapter(Url)


@pytest.mark.parametrize(
    "url", ["https://shop.example.com/orders/1?x=1", "http://[::1]:8080/a", "http://localhost"]
)
def test_a_url_a_client_can_open_is_kept_as_given(url: str) -> None:
    assert _URL.validate_python(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[", "Invalid IPv6 URL"),
        ("https://shop.example.com:port/", "Port could not be cast"),
        ("http://:80/", "no host"),
        ("ftp://shop.example.com/", "pattern"),
    ],
)
def test_text_that_only_looks_like_a_url_is_refused(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        _URL.validate_python(url)
