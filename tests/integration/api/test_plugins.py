"""The Seven Senders client plugins, request for request, against orderstate unmodified.

Each test replays what docs/sevensenders-compat.md records one plugin sending (method, path,
headers, body bytes as PHP's json_encode writes them, datetime formats), asserts what the
plugin then reads, and ends the way a shop's order ends: the warehouse reports the shipment
delivered over Kafka and the order is `completed`.
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from orderstate.events.envelope import CloudEvent
from orderstate.settings import Settings
from tests.support.api import Api, api_for
from tests.support.events import record
from tests.support.kafka import TopicNames
from tests.support.pipeline import Running, consume_until, produce, running, settings_for, wait_for

# What PHP clients send that httpx would add on its own: the plugins send none of these.
_HTTPX_DEFAULTS = ("accept", "accept-encoding", "connection", "user-agent")


def php_json(value: Any) -> bytes:
    """json_encode with its default flags: ASCII only (\\uXXXX) and '/' written as '\\/'."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


async def send(
    api: Api, method: str, url: str, *, headers: dict[str, str], body: bytes | None
) -> httpx.Response:
    request = api.client.build_request(method, url, content=body)
    for name in _HTTPX_DEFAULTS:
        request.headers.pop(name, None)
    request.headers.update(headers)
    return await api.client.send(request)


@dataclass
class SprykerModule:
    """SevensendersApiAdapter: API_URL + resource, a new token before every request."""

    api: Api
    access_key: str
    api_url: str = "http://orderstate.test/v2/"
    sent: list[httpx.Response] = field(default_factory=list)

    async def _auth(self) -> str:
        # RequestOptions::BODY without headers: Guzzle sends no Content-Type.
        answer = await send(
            self.api,
            "POST",
            self.api_url + "token",
            headers={"User-Agent": "GuzzleHttp/7"},
            body=php_json({"access_key": self.access_key}),
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "token" in body  # else the module throws "Bad credentials"
        return f"Bearer {body['token']}"

    async def post(self, resource: str, payload: dict[str, Any]) -> httpx.Response:
        headers = {
            "User-Agent": "GuzzleHttp/7",
            "Content-Type": "application/json",
            "Authorization": await self._auth(),
        }
        answer = await send(
            self.api, "POST", self.api_url + resource, headers=headers, body=php_json(payload)
        )
        self.sent.append(answer)
        return answer

    def iri(self, answer: httpx.Response) -> str | None:
        """AbstractHandler::saveResult: the iri of a 201; OrderResponseHelper: 200/201 is ok."""
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["iri"]) if answer.status_code == 201 else None


def spryker_order(id_sales_order: int, created_at: str, locale: str | None) -> dict[str, Any]:
    """OrderMapper::map, field for field."""
    return {
        "order_id": str(id_sales_order),
        "order_url": "",
        "order_date": created_at,
        "delivered_with_seven_senders": True,
        "boarding_complete": True,
        "language": locale or "",
        "promised_delivery_date": None,
    }


def spryker_shipment(id_sales_order: int, order_reference: str, now: int) -> dict[str, Any]:
    """ShipmentMapper::map, field for field (with a customer's address)."""
    return {
        "order_id": str(id_sales_order),
        "reference_number": order_reference,
        "tracking_code": "",
        "package_no": now,
        "delivered_with_seven_senders": True,
        "carrier": {"name": "DHL", "country": ""},
        "carrier_service": "DHL",
        "recipient_first_name": "Erika",
        "recipient_last_name": "Mustermann",
        "recipient_email": "erika@example.com",
        "recipient_address": "Heidestrasse 17, Hinterhaus",
        "recipient_zip": "51147",
        "recipient_city": "Koeln",
        "recipient_country": "DE",
        "recipient_phone": "+49 221 1234567",
        "recipient_company_name": None,
        "sender_first_name": "",
        "sender_last_name": "",
        "sender_company_name": "",
        "sender_street": "",
        "sender_house_no": "",
        "sender_zip": "",
        "sender_city": "",
        "sender_country": "",
        "sender_phone": "",
        "sender_email": "",
        "cod": True,
        "cod_value": 0,
        "return_parcel": True,
        "pickup_point_selected": True,
        "weight": 0,
        "planned_pickup_datetime": None,
        "comment": "",
        "warehouse_address": "",
        "warehouse": "",
    }


@dataclass
class WooCommercePlugin:
    """WCSSOT_API_Manager: base URL + '/' + endpoint, one token per PHP process, re-auth on 401."""

    api: Api
    access_key: str
    base_url: str = "http://orderstate.test/v2"
    bearer: str | None = None
    recursion_lock: int = 0
    sent: list[tuple[str, str, int]] = field(default_factory=list)

    async def request(
        self,
        data: dict[str, Any],
        endpoint: str,
        method: str,
        params: dict[str, str] | None = None,
        *,
        authenticate: bool = True,
    ) -> httpx.Response:
        if authenticate and self.bearer is None:
            await self.authenticate()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce 8.2.1; https://shop.example.com",
        }
        if self.bearer is not None:
            headers["Authorization"] = f"Bearer {self.bearer}"
        url = f"{self.base_url}/{endpoint}"
        if params:
            url += "?" + urlencode(params)  # http_build_query
        answer = await send(
            self.api, method, url, headers=headers, body=php_json(data) if data else b""
        )
        self.sent.append((method, endpoint, answer.status_code))
        if answer.status_code == 401 and self.recursion_lock < 5:
            self.recursion_lock += 1
            await self.authenticate()
            return await self.request(data, endpoint, method)
        assert 200 <= answer.status_code <= 299, answer.text
        return answer

    async def authenticate(self) -> None:
        answer = await self.request(
            {"access_key": self.access_key}, "token", "POST", authenticate=False
        )
        token = json.loads(answer.text).get("token")
        assert token
        self.bearer = token

    async def create_order(self, number: str, created: str) -> httpx.Response:
        return await self.request(
            {"order_id": number, "order_url": "https://shop.example.com", "order_date": created},
            "orders",
            "POST",
        )

    async def set_order_state(self, number: str, state: str, now: str) -> httpx.Response:
        return await self.request(
            {"order_id": number, "state": state, "datetime": now}, "order_states", "POST"
        )

    async def get_supported_carriers(self) -> dict[str, dict[str, Any]]:
        answer = await self.request({}, "carriers", "GET")
        return {entry["code"]: entry for entry in json.loads(answer.text)}

    async def create_shipment(self, number: str, tracking: str, pickup: str) -> httpx.Response:
        return await self.request(
            {
                "tracking_code": tracking,
                "reference_number": "",
                "pickup_point_selected": False,
                "planned_pickup_datetime": pickup,
                "comment": "",
                "warehouse_address": "",
                "warehouse": "Primary Warehouse",
                "shipment_tag": [],
                "recipient_address": "Heidestrasse 17",
                "return_parcel": False,
                "trackable": True,
                "order_id": number,
                "carrier": {"name": "dhl", "country": "DE"},
                "carrier_service": "standard",
                "recipient_first_name": "Erika",
                "recipient_last_name": "Mustermann",
                "recipient_company_name": "",
                "recipient_email": "erika@example.com",
                "recipient_zip": "51147",
                "recipient_city": "Koeln",
                "recipient_country": "DE",
                "recipient_phone": "+49 221 1234567",
                "weight": 0,
            },
            "shipments",
            "POST",
        )

    def is_carrier_valid(
        self, carriers: dict[str, dict[str, Any]], code: str, country: str
    ) -> bool:
        return code in carriers and country.upper() in carriers[code]["countries"]


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


@pytest.fixture
async def pipeline(settings: Settings) -> AsyncIterator[Running]:
    async with running(settings) as started:
        yield started


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async for ready in api_for(settings):
        yield ready


async def deliver_over_kafka(
    kafka: str, topics: TopicNames, shop: str, order_id: str, shipment_id: str
) -> None:
    """The warehouse's carrier integration reports the parcel delivered."""
    delivered = CloudEvent(
        specversion="1.0",
        id=f"carrier-{shipment_id}-delivered",
        source="urn:carrier-integration",
        type="shipment.status_changed",
        time=datetime(2026, 11, 30, 14, 0, tzinfo=UTC),
        shopid=shop,
        orderid=order_id,
        data={"shipment_id": shipment_id, "status": "delivered"},
    )
    await produce(kafka, topics.shipments, [record(delivered)])


async def state_becomes(api: Api, headers: dict[str, str], iri: str, state: str) -> None:
    async def check() -> bool:
        answer = await api.client.get(iri, headers=headers)
        return bool(answer.json()["state"] == state)

    await wait_for(check)


async def test_spryker_module_creates_the_order_and_shipment_then_the_order_completes(
    api: Api, pipeline: Running, kafka_bootstrap: str, topics: TopicNames
) -> None:
    key = await api.key("shop-spryker", profile="spryker", time_zone="Europe/Berlin")
    module = SprykerModule(api, key)

    # Sevensenders/NewOrder: Propel's created_at, no offset; the order's locale.
    created = await module.post(
        "orders", spryker_order(1001, "2026-11-27 09:30:00.000000", "de_DE")
    )
    assert created.status_code == 201
    assert module.iri(created) == "/v2/orders/1001"
    assert created.headers["location"] == "/v2/orders/1001"
    assert created.headers["x-orderstate-ignored-fields"] == "delivered_with_seven_senders"
    order = created.json()
    assert (order["id"], order["state"], order["boarding_complete"]) == ("1001", "new", True)
    # Read in the key's zone (Europe/Berlin, UTC+1 in November), not the server's.
    assert order["order_date"] == "2026-11-27T09:30:00+01:00"
    assert (order["language"], order["order_url"]) == ("de", None)

    # Sevensenders/NewShipment, with return_parcel: true as the module always sends it.
    shipped = await module.post("shipments", spryker_shipment(1001, "DE--1", 1764235800))
    assert shipped.status_code == 201
    assert module.iri(shipped) == "/v2/shipments/DE--1"
    assert shipped.headers["location"] == "/v2/shipments/DE--1"
    shipment = shipped.json()
    assert (shipment["id"], shipment["direction"], shipment["return_parcel"]) == (
        "DE--1",
        "outbound",
        False,
    )
    assert (shipment["carrier"], shipment["tracking_code"]) == ("DHL", None)
    assert (shipment["order_id"], shipment["order_state"]) == ("1001", "shipped")
    ignored = shipped.headers["x-orderstate-ignored-fields"].split(", ")
    assert "return_parcel" in ignored and "recipient_email" in ignored
    assert "carrier.country" in ignored

    # A retried OMS command sends the shipment again, with a new package_no: 200, same link.
    again = await module.post("shipments", spryker_shipment(1001, "DE--1", 1764235900))
    assert again.status_code == 200
    assert module.iri(again) is None

    headers = {"API-KEY": key}
    await deliver_over_kafka(kafka_bootstrap, topics, "shop-spryker", "1001", "DE--1")
    await state_becomes(api, headers, "/v2/orders/1001", "completed")
    history = (await api.client.get("/v2/orders/1001/states", headers=headers)).json()
    assert [h["state"] for h in history] == ["new", "shipped", "completed"]

    # The shipment went the way of a shipment.created event: logged to shop.shipments.v1.
    logged = await consume_until(
        kafka_bootstrap,
        topics.shipments,
        lambda seen: any(p.type == "shipment.created" for p in seen),
    )
    link = next(p for p in logged if p.type == "shipment.created")
    assert (link.key, link.headers["ce_source"]) == ("shop-spryker:1001", "orderstate/api")
    assert link.data == {
        "shipment_id": "DE--1",
        "direction": "outbound",
        "status": "new",
        "carrier": "DHL",
    }


async def _woocommerce_run(
    api: Api, kafka_bootstrap: str, topics: TopicNames, *, release: str
) -> tuple[WooCommercePlugin, str]:
    key = await api.key("shop-woo", profile="woocommerce")
    plugin = WooCommercePlugin(api, key)
    # A custom order-number plugin: '#', '/', a space and a non-ASCII letter.
    number = "WC-#1001/2026 Ä"
    iri = "/v2/orders/WC-%231001%2F2026%20%C3%84"

    # woocommerce_order_status_processing -> export_order()
    created = await plugin.create_order(number, "2026-11-27T09:30:00+01:00")
    assert created.status_code == 201
    assert created.headers["location"] == iri
    assert created.json()["iri"] == iri
    first = "in_production" if release == "2.0.2" else "in_preparation"
    state = await plugin.set_order_state(number, first, "2026-11-27T09:31:12+01:00")
    assert state.status_code == 201
    assert state.headers["location"] == iri
    assert (state.json()["state"], state.json()["recorded_as"]) == (first, "applied")

    # woocommerce_order_status_completed -> export_shipment()
    carriers = await plugin.get_supported_carriers()
    assert plugin.is_carrier_valid(carriers, "dhl", "de")
    assert carriers["dhl"]["name"] == "DHL Paket"
    shipped = await plugin.create_shipment(
        number, "00340434161094042557", "2026-11-30T12:00:00+01:00"
    )
    assert shipped.status_code == 201
    assert shipped.json()["order_state"] == "shipped"
    assert shipped.json()["id"] == "00340434161094042557"
    if release == "2.0.2":
        # Posted after the shipment: recorded as late, the order stays shipped, still 201.
        late = await plugin.set_order_state(number, "in_preparation", "2026-11-28T16:02:40+01:00")
        assert late.status_code == 201
        assert (late.json()["state"], late.json()["recorded_as"]) == ("shipped", "late")

    await deliver_over_kafka(kafka_bootstrap, topics, "shop-woo", number, "00340434161094042557")
    await state_becomes(api, {"API-KEY": key}, iri, "completed")
    return plugin, number


async def test_woocommerce_plugin_2_0_2_order_states_and_shipment_then_completed(
    api: Api, pipeline: Running, kafka_bootstrap: str, topics: TopicNames
) -> None:
    plugin, number = await _woocommerce_run(api, kafka_bootstrap, topics, release="2.0.2")
    assert [(m, e, s) for m, e, s in plugin.sent] == [
        ("POST", "token", 200),
        ("POST", "orders", 201),
        ("POST", "order_states", 201),
        ("GET", "carriers", 200),
        ("POST", "shipments", 201),
        ("POST", "order_states", 201),
    ]
    # The daily delivery sync: plain query parameters, as http_build_query writes them.
    window = {
        "order_id": number,
        "state": "completed",
        "order_date[before]": "2026-11-28T23:59:59+01:00",
        "order_date[after]": "2026-11-20T00:00:00+01:00",
    }
    listed = json.loads((await plugin.request({}, "orders", "GET", window)).text)
    assert [o["order_id"] for o in listed] == [number]
    completed = [h for h in listed[0]["states_history"] if h["state"] == "completed"]
    assert [h["datetime"] for h in completed] == ["2026-11-30T14:00:00Z"]
    history = [(h["state"], h["late"]) for h in listed[0]["states_history"]]
    assert history == [
        ("new", False),
        ("in_production", False),
        ("shipped", False),
        ("in_preparation", True),
        ("completed", False),
    ]


async def test_woocommerce_plugin_head_and_a_token_that_expired_in_between(
    api: Api, pipeline: Running, kafka_bootstrap: str, topics: TopicNames
) -> None:
    plugin, number = await _woocommerce_run(api, kafka_bootstrap, topics, release="HEAD")
    # Hours later the process still holds its token: 401, a new token, the same request again
    # (the token request carries the stale Authorization header; it does not matter).
    api.clock.now += timedelta(hours=2)
    listed = await plugin.request({}, "orders", "GET", {"order_id": number})
    assert listed.status_code == 200
    assert plugin.sent[-3:] == [
        ("GET", "orders", 401),
        ("POST", "token", 200),
        ("GET", "orders", 200),
    ]
    # The retry drops the query parameters, so it is the whole list: here just the order.
    assert [o["order_id"] for o in listed.json()] == [number]
    assert quote(number, safe="") in listed.json()[0]["iri"]
