"""The web console (/ui) in a real browser: Debian's chromium, driven by Playwright, against a
running ``orderstate api`` on real PostgreSQL. The shop's orders are made through the REST
API, and every number the pages show is compared with what the API answers.

Each test leaves a screenshot (tests/support/browser.py says where); the README shows the
timeline's and the dashboard's.
"""

import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from pydantic import SecretStr

from orderstate.domain import OrderState
from orderstate.monitor.store import AlertRow, write_alerts
from orderstate.settings import Settings
from tests.support import databases
from tests.support.api import order_body, plain_api_key
from tests.support.browser import api_process, chromium_path, screenshot_dir
from tests.support.infra import Endpoints

SHOP, OTHER_SHOP = "shop-console", "shop-elsewhere"
# A reference with a '/' in it: the links must encode it and the page must find the order.
STORY = "WEB-7/1"
OTHER_ORDER = "ELSEWHERE-1"
ORDERS = 30
# httpx's default of 5 s failed the seeding on a loaded machine.
_HTTP_TIMEOUT_S = 60
# The states each plain order is moved through, by its number modulo 4.
PLANS: dict[int, list[str]] = {
    0: [],
    1: ["paid"],
    2: ["paid", "in_production"],
    3: ["cancelled"],
}


@dataclass(frozen=True)
class Console:
    base_url: str
    database_url: str
    key: str
    other_key: str
    # Reason code -> how many changes the API rejected with it while seeding.
    rejected: Counter[str]
    # The detail of each 409 of the story order, as the API answered it.
    story_rejections: dict[str, str]

    def api(self, key: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"API-KEY": key or self.key}, timeout=_HTTP_TIMEOUT_S
        )


async def _state(client: httpx.AsyncClient, order_id: str, state: str, at: str) -> httpx.Response:
    return await client.post(
        "/v2/order-states", json={"order_id": order_id, "state": state, "datetime": at}
    )


async def _seed(
    console_key: str, other_key: str, base_url: str
) -> tuple[Counter[str], dict[str, str]]:
    rejected: Counter[str] = Counter()
    story: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=base_url, headers={"API-KEY": console_key}, timeout=_HTTP_TIMEOUT_S
    ) as client:
        for n in range(1, ORDERS + 1):
            order_id = f"WEB-{n:03d}"
            created = await client.post(
                "/v2/orders",
                json=order_body(
                    order_id,
                    order_date=f"2026-11-{n % 27 + 1:02d}T10:00:00Z",
                    order_tags={"channel": "web" if n % 2 else "store"},
                ),
            )
            assert created.status_code == 201, created.text
            for hour, state in enumerate(PLANS[n % 4]):
                moved = await _state(client, order_id, state, f"2026-11-28T{8 + hour:02d}:00:00Z")
                assert moved.status_code == 201, moved.text
        created = await client.post(
            "/v2/orders", json=order_body(STORY, order_date="2026-11-27T09:30:00Z")
        )
        assert created.status_code == 201, created.text
        prepared = await _state(client, STORY, "in_preparation", "2026-11-28T08:00:00Z")
        late = await _state(client, STORY, "paid", "2026-11-27T10:00:00Z")
        assert (prepared.status_code, late.status_code) == (201, 201), late.text
        assert late.json()["recorded_as"] == "late"
        for state, at in (
            ("shipped", "2026-11-28T09:00:00Z"),
            ("cancelled", "2026-11-28T12:00:00Z"),
        ):
            if state == "cancelled":
                linked = await client.post(
                    "/v2/shipments",
                    json={"order_id": STORY, "shipment_id": "SHP-1", "carrier": "dhl"},
                )
                assert linked.status_code == 201, linked.text
            refused = await _state(client, STORY, state, at)
            assert refused.status_code == 409, refused.text
            story[refused.json()["code"]] = refused.json()["detail"]
            rejected[refused.json()["code"]] += 1
    async with httpx.AsyncClient(
        base_url=base_url, headers={"API-KEY": other_key}, timeout=_HTTP_TIMEOUT_S
    ) as client:
        created = await client.post("/v2/orders", json=order_body(OTHER_ORDER))
        assert created.status_code == 201, created.text
    return rejected, story


async def _alerts(database_url: str) -> None:
    """What the order monitor would have written (it does not run here): an open alert of the
    story order, and a cleared one of another order."""
    now = int(time.time() * 1000)
    hour = 3_600_000
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await write_alerts(
            pool,
            [
                AlertRow(
                    SHOP,
                    "a-open",
                    STORY,
                    "boarding_open",
                    "shipped",
                    5,
                    since_ms=now - 3 * hour,
                    due_ms=now - hour,
                    raised_at_ms=now - hour,
                    cleared_at_ms=None,
                    cleared_because=None,
                    updated_ms=now,
                ),
                AlertRow(
                    SHOP,
                    "a-cleared",
                    "WEB-001",
                    "state_deadline.paid",
                    "paid",
                    2,
                    since_ms=now - 5 * hour,
                    due_ms=now - 2 * hour,
                    raised_at_ms=now - 2 * hour,
                    cleared_at_ms=now - hour,
                    cleared_because="moved_on",
                    updated_ms=now,
                ),
            ],
        )
    finally:
        await pool.close()


@pytest.fixture(scope="module")
async def console(
    endpoints: Endpoints, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    name = await databases.clone_database(endpoints.database_url, template_database)
    url = databases.with_database(endpoints.database_url, name)
    pepper = Settings(
        database_url=SecretStr(url), kafka_bootstrap_servers=endpoints.kafka_bootstrap
    ).api_key_pepper.get_secret_value()
    log = tmp_path_factory.mktemp("console") / "api.log"
    try:
        async with api_process(url, endpoints.kafka_bootstrap, log) as api:
            key = await plain_api_key(url, SHOP, pepper=pepper, label="console test")
            other = await plain_api_key(url, OTHER_SHOP, pepper=pepper, label="console test")
            rejected, story = await _seed(key, other, api.base_url)
            await _alerts(url)
            yield Console(api.base_url, url, key, other, rejected, story)
    finally:
        await databases.drop_database(endpoints.database_url, name)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path())
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, console: Console) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=console.base_url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    # Generous: on a loaded 2-core machine a page can take seconds (a slow moment, not a
    # failure); a real failure still fails, only later.
    context.set_default_timeout(60_000)
    opened = await context.new_page()
    # Script errors, anything the Content Security Policy refused (htmx included), and any
    # file a page asked for that the console does not serve (the pages themselves may be 404).
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    opened.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if "Content Security Policy" in message.text or "Refused" in message.text
            else None
        ),
    )
    yield opened
    await context.close()
    assert problems == []


async def _screenshot(page: Page, name: str) -> Path:
    path = screenshot_dir() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def _log_in(page: Page, key: str, start: str = "/ui/") -> None:
    await page.goto(start)
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"**{start}")


async def _api_total(console: Console, path: str) -> int:
    async with console.api() as client:
        answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    return int(answer.headers["X-Total-Count"])


async def test_login_exchanges_the_key_for_an_http_only_strict_cookie(
    page: Page, console: Console
) -> None:
    await page.goto("/ui/orders")
    assert "/ui/login?next=/ui/orders" in page.url
    await page.get_by_label("API key").fill("osk_000000000000_not-a-key")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("That is not an active API key.")
    await page.get_by_label("API key").fill(console.key)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**/ui/orders")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Orders")

    cookies = await page.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"], c["path"]) for c in cookies] == [
        ("orderstate_console", True, "Strict", "/ui")
    ]
    assert console.key not in cookies[0]["value"]
    assert await page.evaluate("document.cookie") == ""
    assert console.key not in await page.content()
    await _screenshot(page, "login")

    # A form posted from another site is refused, with a good key too, and sets no cookie.
    async with httpx.AsyncClient(base_url=console.base_url, timeout=_HTTP_TIMEOUT_S) as client:
        form = {"access_key": console.key, "next": "/ui/"}
        foreign = await client.post(
            "/ui/login", data=form, headers={"Origin": "https://evil.example"}
        )
        cross = await client.post("/ui/login", data=form, headers={"Sec-Fetch-Site": "cross-site"})
        bare = await client.post("/ui/login", data=form)
        own = await client.post("/ui/login", data=form, headers={"Origin": console.base_url})
    assert [r.status_code for r in (foreign, cross, bare)] == [403, 403, 403]
    assert not any("set-cookie" in r.headers for r in (foreign, cross, bare))
    assert own.status_code == 303
    assert own.headers["location"] == "/ui/"
    assert "HttpOnly" in own.headers["set-cookie"]
    assert "SameSite=strict" in own.headers["set-cookie"]


async def test_the_orders_list_filters_like_the_api_and_pages(page: Page, console: Console) -> None:
    await _log_in(page, console.key, "/ui/orders")
    rows = page.locator("#orders tbody tr")
    everything = await _api_total(console, "/v2/orders?limit=1")
    assert everything == ORDERS + 1
    await expect(page.locator("#total")).to_have_text(str(everything))
    await expect(rows).to_have_count(25)
    await page.get_by_role("link", name="Next").click()
    await expect(rows).to_have_count(everything - 25)

    # htmx replaces the results and puts the filters into the address.
    await page.get_by_label("in_production", exact=True).check()
    await page.get_by_label("Tag").fill("channel:store")
    async with page.expect_request(
        lambda request: (
            "state=in_production" in request.url and request.headers.get("hx-request") == "true"
        )
    ):
        await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_url(lambda url: "state=in_production" in url and "channel%3Astore" in url)
    expected = await _api_total(
        console, "/v2/orders?filters[state]=in_production&filters[tag]=channel:store&limit=1"
    )
    assert expected > 0
    await expect(page.locator("#total")).to_have_text(str(expected))
    await expect(rows).to_have_count(expected)
    assert set(await page.locator("#orders td.state").all_inner_texts()) == {"in_production"}

    # Orders with an open alert of the order monitor: the story order, not the cleared one's.
    await page.goto("/ui/orders?alerts=open")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(STORY)
    await expect(rows).to_contain_text("boarding_open")
    await page.goto("/ui/orders?state=in_production&tag=channel%3Astore")
    await _screenshot(page, "orders")


async def test_the_timeline_shows_a_late_state_and_the_rejections(
    page: Page, console: Console
) -> None:
    await _log_in(page, console.key, "/ui/orders")
    await page.get_by_role("link", name=STORY, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {STORY}")
    await expect(page.locator("#current-state")).to_have_text("shipped")

    late = page.locator("#timeline li.late_state")
    await expect(late).to_have_count(1)
    await expect(late).to_contain_text("paid arrived late")
    await expect(page.locator("#states tr.late")).to_contain_text("paid")
    rejected = page.locator("#timeline li.rejected")
    await expect(rejected).to_have_count(2)
    for code, detail in console.story_rejections.items():
        entry = rejected.filter(has_text=code)
        await expect(entry).to_contain_text(detail)
    assert set(console.story_rejections) == {"state_not_settable", "cancel_after_shipment"}

    async with console.api() as client:
        events = (await client.get(f"/v2/orders/{quote(STORY, safe='')}/events")).json()
    shown = await page.locator("#events tbody th").all_inner_texts()
    assert [int(s) for s in shown] == [e["sequence"] for e in events]
    await expect(page.locator("#shipments")).to_contain_text("SHP-1")
    await expect(page.locator("#items")).to_contain_text("TS-1")
    await expect(page.locator("#tags")).to_contain_text("channel:web")
    await expect(page.locator("#alerts")).to_contain_text("boarding_open")
    await _screenshot(page, "timeline")


async def _changes(console: Console) -> int:
    """How many events the API lists for the shop's orders (GET /v2/orders/{id}/events): all
    were recorded within the last minutes. (GET /v2/changes would list the same, but holds
    rows back while any transaction of the server runs, which other tests' may.)"""
    count = 0
    async with console.api() as client:
        orders = (await client.get("/v2/orders", params={"limit": "500"})).json()
        for order in orders:
            events = await client.get(f"{order['iri']}/events", params={"limit": "1"})
            count += int(events.headers["X-Total-Count"])
    return count


async def test_the_dashboard_numbers_are_the_apis(page: Page, console: Console) -> None:
    await _log_in(page, console.key)
    for state in OrderState:
        expected = await _api_total(console, f"/v2/orders?filters[state]={state.value}&limit=1")
        row = page.locator(f'#orders-per-state tr[data-state="{state.value}"] td.num')
        await expect(row).to_have_text(str(expected))
    await expect(page.locator("#orders-total")).to_have_text(
        str(await _api_total(console, "/v2/orders?limit=1"))
    )
    for reason, count in console.rejected.items():
        row = page.locator(f'#rejections-per-reason tr[data-reason="{reason}"] td.num')
        await expect(row).to_have_text(str(count))
    await expect(page.locator("#rejections-per-reason tbody tr")).to_have_count(
        len(console.rejected)
    )
    await expect(page.locator("#changes-total")).to_have_text(str(await _changes(console)))
    open_alerts = await _api_total(console, "/v2/alerts?filters[status]=open&limit=1")
    assert open_alerts == 1
    await expect(page.locator("#open-alerts")).to_have_text(str(open_alerts))
    conn = await asyncpg.connect(console.database_url)
    try:
        # Nothing relays in this test: every event the writes appended waits in the outbox.
        waiting = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL"
        )
    finally:
        await conn.close()
    assert waiting > 0
    await expect(page.locator("#outbox-backlog")).to_contain_text(f"{waiting} events waiting")
    await expect(page.locator("#consumer-lag")).to_contain_text("not measured in this process")

    # The first Tab reaches the skip link, which moves the focus to the page's content.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    await _screenshot(page, "dashboard")


async def test_another_shops_order_is_not_found(page: Page, console: Console) -> None:
    async with console.api(console.other_key) as client:
        assert (await client.get(f"/v2/orders/{OTHER_ORDER}")).status_code == 200
    await _log_in(page, console.key)
    answer = await page.goto(f"/ui/orders/{OTHER_ORDER}")
    assert answer is not None
    assert answer.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Order not found")
    await page.goto("/ui/orders?tag=channel:web")
    await expect(page.locator("#orders")).not_to_contain_text(OTHER_ORDER)
    await _screenshot(page, "not-found")


async def test_logout_ends_the_session(page: Page, console: Console) -> None:
    await _log_in(page, console.key)
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/ui/login")
    assert await page.context.cookies() == []
    await page.goto("/ui/")
    assert "/ui/login" in page.url
    await expect(page.get_by_label("API key")).to_be_visible()
    await _screenshot(page, "logout")
