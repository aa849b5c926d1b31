"""Every REST request: one access-log line and request metrics under a request id, by route
template, never with the query string."""

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY
from structlog.testing import LogCapture

from tests.support.api import Api

ROUTE = "/v2/orders/{order_id}"


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Log lines as dicts, with the context variables merged in as in production."""
    capture = LogCapture()
    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, capture],
        cache_logger_on_first_use=False,
    )
    try:
        yield capture.entries
    finally:
        structlog.configure(**previous)


def _requests(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("orderstate_http_requests_total", labels) or 0.0


def _latency_count(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    found = REGISTRY.get_sample_value("orderstate_http_request_duration_seconds_count", labels)
    return found or 0.0


async def test_a_request_is_logged_once_by_route_with_the_callers_request_id(
    api: Api, logs: list[dict[str, Any]]
) -> None:
    headers = {**await api.as_shop("shop-log"), "X-Request-ID": "req-7f3a.42"}
    # A secret in the query string (an unknown parameter, so 400): never logged.
    answer = await api.client.get("/v2/orders/ORD-404?access_key=s3cret", headers=headers)

    assert answer.status_code == 400
    assert answer.headers["X-Request-ID"] == "req-7f3a.42"
    lines = [e for e in logs if e["event"] == "request"]
    assert lines == [
        {
            "event": "request",
            "log_level": "info",
            "request_id": "req-7f3a.42",
            "method": "GET",
            "route": ROUTE,
            "status": 400,
            "duration_ms": lines[0]["duration_ms"],
        }
    ]
    assert "s3cret" not in repr(logs)
    assert "ORD-404" not in repr(lines)


@pytest.mark.parametrize(
    "given", ["", "has spaces", "x" * 129, "-starts-with-a-dash", "ünïcode", "a\tb"]
)
async def test_an_insane_request_id_is_replaced(
    api: Api, logs: list[dict[str, Any]], given: str
) -> None:
    answer = await api.client.get("/v2/orders/ORD-1", headers={b"X-Request-ID": given.encode()})

    issued = answer.headers["X-Request-ID"]
    assert issued != given
    assert len(issued) == 32
    assert int(issued, 16) >= 0
    assert [e["request_id"] for e in logs if e["event"] == "request"] == [issued]


async def test_every_log_line_of_a_request_carries_its_request_id(
    api: Api, logs: list[dict[str, Any]]
) -> None:
    headers = await api.as_shop("shop-log")
    # PostgreSQL goes away: the problem handler logs a warning inside the request.
    await api.context.pool.close()
    answer = await api.client.get("/v2/orders/ORD-1", headers={**headers, "X-Request-ID": "r-1"})

    assert answer.status_code == 503
    assert [(e["event"], e.get("request_id")) for e in logs] == [
        ("database_unavailable", "r-1"),
        ("request", "r-1"),
    ]


async def test_requests_are_counted_and_timed_by_route_method_and_status(api: Api) -> None:
    headers = await api.as_shop("shop-metrics")
    before = (_requests(ROUTE, "GET", "404"), _latency_count(ROUTE, "GET", "404"))
    for order_id in ("A-1", "B-2", "C-3"):
        await api.client.get(f"/v2/orders/{order_id}", headers=headers)
    unmatched_before = _requests("unmatched", "GET", "404")
    await api.client.get("/no/such/path/42")

    assert (_requests(ROUTE, "GET", "404"), _latency_count(ROUTE, "GET", "404")) == (
        before[0] + 3,
        before[1] + 3,
    )
    # One label value for every path that matched no route: no label per raw path.
    assert _requests("unmatched", "GET", "404") == unmatched_before + 1
    assert (
        REGISTRY.get_sample_value(
            "orderstate_http_requests_total",
            {"route": "/v2/orders/A-1", "method": "GET", "status": "404"},
        )
        is None
    )


async def test_probes_and_metrics_are_not_served_to_api_clients(
    api: Api, logs: list[dict[str, Any]]
) -> None:
    """They live on the ops port (orderstate api --ops-port), which no Ingress exposes."""
    before = _requests("unmatched", "GET", "404")
    for path in ("/healthz", "/readyz", "/metrics"):
        answer = await api.client.get(path)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), path
    assert _requests("unmatched", "GET", "404") == before + 3
