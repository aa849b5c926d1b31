"""What the console's pages say of the settings they depend on."""

from datetime import UTC, datetime

import pytest

from orderstate.api.alert_reads import AlertRow
from orderstate.console.charts import bar_chart
from orderstate.console.figures import Dashboard
from orderstate.console.pages import render, session_length
from orderstate.console.session import Session
from orderstate.domain import OrderState


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


def _alert(order_id: str, rule: str) -> AlertRow:
    moment = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    return AlertRow(
        alert_id=f"{rule}:{order_id}",
        order_id=order_id,
        rule=rule,
        state=None,
        order_version=None,
        since=moment,
        deadline=moment,
        raised_at=moment,
        cleared_at=None,
        cleared_because=None,
    )


def test_the_dashboard_links_no_order_that_does_not_exist_yet() -> None:
    # parked_too_long is raised for an order orderstate does not have: its link was a 404.
    board = Dashboard(
        orders_per_state={OrderState.NEW: 1},
        changes_per_hour=[],
        rejections_per_reason={},
        open_alerts=2,
        open_alerts_per_rule={"parked_too_long": 1, "boarding_open": 1},
        latest_open_alerts=[_alert("WEB-9", "parked_too_long"), _alert("WEB-1", "boarding_open")],
        outbox_backlog=0,
        outbox_dead=0,
        consumer_lag=None,
    )
    page = render(
        "dashboard.html",
        title="Dashboard",
        session=Session(shop_id="shop-1", key_id="k1"),
        board=board,
        changes=bar_chart([]),
        hours=[],
    )
    html = bytes(page.body).decode()
    assert 'href="/ui/orders/WEB-1"' in html
    assert 'href="/ui/orders/WEB-9"' not in html
    assert "WEB-9 (not created yet: its shipments wait for it): parked_too_long" in html
