"""References as shops write them ('#', '/', spaces, any letter) through every path, REST and
Kafka, and the rule for what is refused (events/fields.py REFERENCE_RULE)."""

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from orderstate.events.fields import REFERENCE_RULE
from orderstate.settings import Settings
from tests.support.api import Api, api_for, order_body, plain_api_key
from tests.support.events import created, record
from tests.support.kafka import TopicNames
from tests.support.pipeline import consume_until, produce, running, settings_for, wait_for
from tests.support.processes import env_for

REFERENCES = ["WEB #1001/2", "Bestellung Müller 17", "注文:2026/11", "100% sicher", "A/items"]


def enc(reference: str) -> str:
    return quote(reference, safe="")


@pytest.mark.parametrize("order_id", REFERENCES)
async def test_an_order_reference_round_trips_through_every_path(api: Api, order_id: str) -> None:
    headers = await api.as_shop("shop-r")
    path = f"/v2/orders/{enc(order_id)}"

    created_answer = await api.client.post("/v2/orders", json=order_body(order_id), headers=headers)
    assert created_answer.status_code == 201
    assert created_answer.headers["location"] == path
    assert (created_answer.json()["id"], created_answer.json()["iri"]) == (order_id, path)

    state = {"order_id": order_id, "state": "paid", "datetime": "2026-11-21T10:00:00Z"}
    posted = await api.client.post("/v2/order-states", json=state, headers=headers)
    assert (posted.status_code, posted.headers["location"]) == (201, path)
    patched = await api.client.patch(path, json={"language": "en"}, headers=headers)
    assert patched.json()["order_id"] == order_id
    tags = await api.client.put(f"{path}/tags", json={"order_tags": {"a": "b"}}, headers=headers)
    assert tags.json() == {"a": "b"}

    item = {"item_id": "Pos #2/3", "sku": "MUG", "quantity": 1}
    added = await api.client.post(f"{path}/items", json=item, headers=headers)
    assert added.headers["location"] == f"{path}/items/Pos%20%232%2F3"
    read_item = await api.client.get(added.headers["location"], headers=headers)
    assert read_item.json()["item_id"] == "Pos #2/3"

    linked = await api.client.post(
        "/v2/shipments",
        json={"order_id": order_id, "reference_number": "Paket 1/2", "carrier": "dhl"},
        headers=headers,
    )
    assert linked.headers["location"] == "/v2/shipments/Paket%201%2F2"
    one = await api.client.get(linked.headers["location"], headers=headers)
    assert (one.json()["order_id"], one.json()["order_iri"]) == (order_id, path)
    listed = await api.client.get(f"{path}/shipments", headers=headers)
    assert [s["shipment_id"] for s in listed.json()] == ["Paket 1/2"]

    read = await api.client.get(path, headers=headers)
    assert (read.json()["order_id"], read.json()["state"]) == (order_id, "shipped")
    states = await api.client.get(f"{path}/states", headers=headers)
    assert [s["state"] for s in states.json()] == ["new", "paid", "shipped"]
    found = await api.client.get(
        "/v2/orders", params={"filters[order_id]": order_id}, headers=headers
    )
    assert [o["order_id"] for o in found.json()] == [order_id]
    # The paging links repeat the path as the client sent it (an order id in them is a 500
    # when a letter falls outside latin-1, and a wrong route when it holds '/' or '%').
    events = await api.client.get(f"{path}/events", params={"limit": 1}, headers=headers)
    assert events.status_code == 200
    links = [part.split(">")[0].lstrip(" <") for part in events.headers["link"].split(",")]
    assert {httpx.URL(link).raw_path.decode().split("?")[0] for link in links} == {f"{path}/events"}
    assert (await api.client.delete(path, headers=headers)).status_code == 204


async def test_a_reference_ending_in_json_gets_links_that_reach_it(api: Api) -> None:
    """The API drops '.json' at the end of an order's or shipment's path (the 2017 spelling),
    so `Location` and `iri` of 'report.json' must end in '.json.json'; '/v2/orders/report.json'
    is order 'report'."""
    headers = await api.as_shop("shop-r")
    await api.client.post("/v2/orders", json=order_body("report"), headers=headers)
    created_answer = await api.client.post(
        "/v2/orders", json=order_body("report.json"), headers=headers
    )
    order_path = "/v2/orders/report.json.json"
    assert created_answer.headers["location"] == order_path
    assert created_answer.json()["iri"] == order_path
    read = await api.client.get(created_answer.headers["location"], headers=headers)
    assert read.json()["order_id"] == "report.json"

    state = {"order_id": "report.json", "state": "paid", "datetime": "2026-11-21T10:00:00Z"}
    posted = await api.client.post("/v2/order-states", json=state, headers=headers)
    assert posted.headers["location"] == order_path
    item = {"item_id": "mug.json", "sku": "MUG", "quantity": 1}
    # No '.json' is dropped below an order's path: its items are under the plain one.
    added = await api.client.post("/v2/orders/report.json/items", json=item, headers=headers)
    assert added.headers["location"] == "/v2/orders/report.json/items/mug.json"
    read_item = await api.client.get(added.headers["location"], headers=headers)
    assert read_item.json()["item_id"] == "mug.json"

    linked = await api.client.post(
        "/v2/shipments",
        json={"order_id": "report.json", "shipment_id": "label.json"},
        headers=headers,
    )
    assert linked.headers["location"] == "/v2/shipments/label.json.json"
    assert (linked.json()["iri"], linked.json()["order_iri"]) == (
        "/v2/shipments/label.json.json",
        order_path,
    )
    one = await api.client.get(linked.headers["location"], headers=headers)
    assert (one.status_code, one.json()["shipment_id"]) == (200, "label.json")


async def test_a_slash_in_a_reference_never_reaches_another_route(api: Api) -> None:
    """'A/items' is an order of its own: its path is /v2/orders/A%2Fitems, which is not the
    items of order 'A'."""
    headers = await api.as_shop("shop-r")
    await api.client.post("/v2/orders", json=order_body("A"), headers=headers)
    await api.client.post("/v2/orders", json=order_body("A/items"), headers=headers)
    order = await api.client.get("/v2/orders/A%2Fitems", headers=headers)
    items = await api.client.get("/v2/orders/A/items", headers=headers)
    assert order.json()["order_id"] == "A/items"
    assert isinstance(items.json(), list)
    literal = await api.client.get("/v2/orders/100%25%252F", headers=headers)
    assert (literal.status_code, literal.json()["detail"]) == (
        404,
        "no order '100%%2F' in this shop",
    )


@pytest.mark.parametrize(
    ("order_id", "why"),
    [
        ("..", "a path segment URL libraries resolve away"),
        (".", "a path segment URL libraries resolve away"),
        (" A-1", "white space at an end"),
        ("A-1\u00a0", "white space at an end (no-break space)"),
        ("A\t1", "a control character"),
        ("A\u202e1-B", "a bidi override: it would display as another reference"),
        ("A\u20281", "a line separator"),
    ],
)
async def test_what_is_refused_and_why(api: Api, order_id: str, why: str) -> None:
    headers = await api.as_shop("shop-r")
    answer = await api.client.post("/v2/orders", json=order_body(order_id), headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (422, "malformed"), why
    assert answer.json()["detail"].endswith(REFERENCE_RULE)


async def test_at_most_128_characters(api: Api) -> None:
    headers = await api.as_shop("shop-r")
    ok = await api.client.post("/v2/orders", json=order_body("ü" * 128), headers=headers)
    too_long = await api.client.post("/v2/orders", json=order_body("ü" * 129), headers=headers)
    in_path = await api.client.get(f"/v2/orders/{enc('ü' * 129)}", headers=headers)
    assert (ok.status_code, too_long.status_code) == (201, 422)
    assert (in_path.status_code, in_path.json()["errors"][0]["field"]) == (422, "path.order_id")


async def test_a_refused_reference_in_the_path_is_422_naming_the_rule(api: Api) -> None:
    headers = await api.as_shop("shop-r")
    answer = await api.client.get("/v2/orders/%20A-1", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (422, "malformed")
    assert answer.json()["detail"].startswith("path.order_id: Value error, ' A-1' is not a valid")


async def test_references_travel_raw_in_the_kafka_key_both_ways(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings: Settings = settings_for(kafka_bootstrap, database_url, topics)
    from_rest, from_kafka = "WEB #1001/2 Ä:1", "Lager:Ü 7/8"
    async with running(settings):
        async for api in api_for(settings):
            headers = await api.as_shop("shop-k")
            await api.client.post("/v2/orders", json=order_body(from_rest), headers=headers)
            # A shop platform publishes an order with such a reference itself.
            await produce(
                kafka_bootstrap, topics.orders, [record(created(shop="shop-k", order=from_kafka))]
            )

            async def applied(
                client: Any = api.client, auth: Any = headers, path: str = enc(from_kafka)
            ) -> bool:
                answer = await client.get(f"/v2/orders/{path}", headers=auth)
                return bool(answer.status_code == 200)

            await wait_for(applied)
        logged = await consume_until(kafka_bootstrap, topics.orders, lambda seen: len(seen) >= 2)
    keys = {p.key: p.headers["ce_orderid"] for p in logged}
    # UTF-8 "<shop_id>:<order_id>", not percent-encoded; split at the first ':'.
    assert keys == {f"shop-k:{from_rest}": from_rest, f"shop-k:{from_kafka}": from_kafka}
    assert all(key.split(":", 1)[1] == order for key, order in keys.items())


async def test_through_the_real_server_too(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """uvicorn hands the app a decoded path and the raw one; routing must use the raw one."""
    settings = Settings(
        database_url=SecretStr(database_url), kafka_bootstrap_servers=kafka_bootstrap
    )
    key = await plain_api_key(
        database_url, "shop-u", pepper=settings.api_key_pepper.get_secret_value(), label="t"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "api.log").open("wb")
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "api",
        "--ops-port",
        "0",
        env=env_for(settings, ORDERSTATE_API_PORT=str(port)),
        stdout=log,
        stderr=log,
    )
    try:

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{base}/v2/openapi.json")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(ready, timeout_s=30)
        async with httpx.AsyncClient(base_url=base, headers={"API-KEY": key}) as client:
            created = await client.post("/v2/orders", json=order_body("WEB #1001/2 Ä"))
            location = created.headers["location"]
            read = await client.get(location)
            suffixed = await client.get(location + ".json")
            states = await client.post(
                "/v2/order_states",
                json={
                    "order_id": "WEB #1001/2 Ä",
                    "state": "paid",
                    "datetime": "2026-11-21T10:00:00",
                },
            )
    finally:
        server.terminate()
        await server.wait()
        log.close()
    assert location == "/v2/orders/WEB%20%231001%2F2%20%C3%84"
    assert read.json()["order_id"] == suffixed.json()["order_id"] == "WEB #1001/2 Ä"
    assert (states.status_code, states.headers["location"]) == (201, location)
