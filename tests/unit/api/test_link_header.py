"""The list's Link header is built from the query parsed once; every link must stay the text
Starlette's URL.include_query_params gave, whatever the client's query and path hold."""

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from orderstate.api.routes._common import MAX_OFFSET, link_header

_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def _request(raw_path: bytes, query: bytes) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "https",
            "server": ("orders.example", 443),
            "path": raw_path.decode("latin-1"),
            "raw_path": raw_path,
            "query_string": query,
            "headers": [(b"host", b"orders.example")],
        }
    )


def _as_before(request: Request, at: int, limit: int) -> str:
    """A link's URL as it was built before: include_query_params, once per link."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    url = request.url.replace(path=quote(raw_path, safe=_PATH_SAFE))
    return str(url.include_query_params(offset=at, limit=limit))


def _links(header: str) -> list[tuple[str, str]]:
    """(URL, rel) of each link; our URLs hold no '>'."""
    return [
        (part.split(">; rel=")[0].lstrip("<"), part.split('rel="')[1].rstrip('"'))
        for part in header.split(", <")
    ]


_NAMES = st.sampled_from(
    ["offset", "limit", "filters[state]", "filters[tag]", "order_by", "total", "a b", "ü", ""]
)
_VALUES = st.lists(
    st.sampled_from([*"az09 +%&=;:/?#[]ü\u00e9\u4e2d", "%20", "%2", "%zz", "%C3%BC"]), max_size=8
).map("".join)


@st.composite
def _queries(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=6))
    raw = draw(st.booleans())
    if raw:  # as a client may send it, unescaped
        text = "&".join(f"{k}={v}" for k, v in pairs)
    else:
        text = "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)
    return text.encode()


@settings(max_examples=400, deadline=None)
@given(
    path=st.sampled_from(
        [b"/v2/orders", b"/v2/orders.json", b"/v2/order%20states", b"/v2/\xc3\xbc"]
    ),
    query=_queries(),
    total=st.integers(0, 2 * MAX_OFFSET),
    limit=st.integers(1, 500),
    offset=st.integers(0, MAX_OFFSET),
)
def test_every_link_is_the_text_include_query_params_gave(
    path: bytes, query: bytes, total: int, limit: int, offset: int
) -> None:
    request = _request(path, query)
    links = _links(link_header(request, total, limit, offset))
    expected_offsets = {
        "first": 0,
        "prev": max(offset - limit, 0),
        "next": offset + limit,
        "last": max((total - 1) // limit * limit, 0),
    }
    assert links[0][1] == "first"
    for url, rel in links:
        assert url == _as_before(request, expected_offsets[rel], limit)


def test_paging_parameters_are_replaced_and_the_others_kept_in_order() -> None:
    request = _request(b"/v2/orders", b"limit=5&filters%5Bstate%5D=paid&offset=10&order_by=-x")
    assert link_header(request, total=40, limit=5, offset=10) == (
        "<https://orders.example/v2/orders?filters%5Bstate%5D=paid&order_by=-x&offset=0&limit=5>; "
        'rel="first", '
        "<https://orders.example/v2/orders?filters%5Bstate%5D=paid&order_by=-x&offset=5&limit=5>; "
        'rel="prev", '
        "<https://orders.example/v2/orders?filters%5Bstate%5D=paid&order_by=-x&offset=15&limit=5>; "
        'rel="next", '
        "<https://orders.example/v2/orders?filters%5Bstate%5D=paid&order_by=-x&offset=35&limit=5>; "
        'rel="last"'
    )
