"""POST /v2/shipments, GET /v2/shipments, GET /v2/shipments/{id} and GET /v2/carriers."""

import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from pydantic import SecretStr

from orderstate.api.app import create_api
from orderstate.api.carriers import CarrierListError
from orderstate.api.context import ApiContext
from orderstate.domain import PolicyBook
from orderstate.projector.apply import apply_batch
from orderstate.settings import Settings
from tests.support.api import Api, Clock, api_for, order_body
from tests.support.events import T0, event, incoming
from tests.support.kafka import TopicNames
from tests.support.outbox_text import OUTBOX
from tests.support.pipeline import Published, consume_until, running, settings_for, wait_for


def shipment(order_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "tracking_code": "TRK-1",
        "carrier": {"name": "dhl", "country": "DE"},
    }
    body.update(fields)
    return body


async def _rows(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


class TestCreate:
    async def test_links_the_shipment_and_ships_the_order(self, api: Api) -> None:
        headers = await api.as_shop("shop-s")
        await api.client.post("/v2/orders", json=order_body("S-1"), headers=headers)
        answer = await api.client.post("/v2/shipments", json=shipment("S-1"), headers=headers)
        assert answer.status_code == 201
        assert answer.headers["location"] == "/v2/shipments/TRK-1"
        body = answer.json()
        assert body == {
            "shipment_id": "TRK-1",
            "direction": "outbound",
            "return_parcel": False,
            "status": "new",
            "carrier": "dhl",
            "tracking_code": "TRK-1",
            "linked_at": body["linked_at"],
            "status_at": body["linked_at"],
            "id": "TRK-1",
            "iri": "/v2/shipments/TRK-1",
            "order_id": "S-1",
            "order_iri": "/v2/orders/S-1",
            "order_state": "shipped",
        }
        assert answer.headers["x-orderstate-ignored-fields"] == "carrier.country"

    async def test_the_same_shipment_again_is_200(self, api: Api) -> None:
        headers = await api.as_shop("shop-s")
        await api.client.post("/v2/orders", json=order_body("S-1"), headers=headers)
        await api.client.post("/v2/shipments", json=shipment("S-1"), headers=headers)
        again = await api.client.post("/v2/shipments", json=shipment("S-1"), headers=headers)
        assert (again.status_code, again.json()["id"]) == (200, "TRK-1")

    async def test_sent_again_after_delivery_it_stays_delivered(self, api: Api) -> None:
        headers = await api.as_shop("shop-s")
        await api.client.post("/v2/orders", json=order_body("S-1"), headers=headers)
        await api.client.post("/v2/shipments", json=shipment("S-1"), headers=headers)
        async with api.context.pool.acquire() as conn:
            delivered = event(
                "shipment.status_changed",
                {"shipment_id": "TRK-1", "status": "delivered"},
                shop="shop-s",
                order="S-1",
            )
            await apply_batch(conn, [incoming(delivered)], policies=PolicyBook(), now=api.clock())
        again = await api.client.post("/v2/shipments", json=shipment("S-1"), headers=headers)
        assert (again.status_code, again.json()["status"]) == (200, "delivered")

    async def test_the_id_is_shipment_id_else_reference_number_else_tracking_code(
        self, api: Api
    ) -> None:
        headers = await api.as_shop("shop-s")
        await api.client.post("/v2/orders", json=order_body("S-1"), headers=headers)
        ids = []
        for extra in (
            {"shipment_id": "OWN-1", "reference_number": "REF-1"},
            {"reference_number": "REF-2", "tracking_code": "TRK-2"},
            {"reference_number": "", "tracking_code": "TRK-3"},
        ):
            answer = await api.client.post(
                "/v2/shipments", json=shipment("S-1", **extra), headers=headers
            )
            ids.append(answer.json()["id"])
        assert ids == ["OWN-1", "REF-2", "TRK-3"]
        neither = await api.client.post(
            "/v2/shipments",
            json=shipment("S-1", tracking_code="", reference_number=""),
            headers=headers,
        )
        assert (neither.status_code, neither.json()["code"]) == (422, "malformed")
        assert "give reference_number or tracking_code" in neither.json()["detail"]

    async def test_return_parcel_true_is_a_return(self, api: Api) -> None:
        headers = await api.as_shop("shop-s")
        await api.client.post("/v2/orders", json=order_body("S-1"), headers=headers)
        early = await api.client.post(
            "/v2/shipments", json=shipment("S-1", return_parcel=True), headers=headers
        )
        assert (early.status_code, early.json()["code"]) == (409, "return_without_shipment")
        await api.client.post("/v2/shipments", json=shipment("S-1"), headers=headers)
        back = await api.client.post(
            "/v2/shipments",
            json=shipment("S-1", tracking_code="RET-1", return_parcel=True),
            headers=headers,
        )
        assert back.status_code == 201
        assert (back.json()["direction"], back.json()["return_parcel"]) == ("return", True)
        assert back.json()["order_state"] == "shipped"

    async def test_the_spryker_profile_reads_return_parcel_as_outbound(self, api: Api) -> None:
        headers = await api.as_shop("shop-s", profile="spryker")
        await api.client.post("/v2/orders", json=order_body("S-1"), headers=headers)
        answer = await api.client.post(
            "/v2/shipments", json=shipment("S-1", return_parcel=True), headers=headers
        )
        assert (answer.status_code, answer.json()["direction"]) == (201, "outbound")
        assert "return_parcel" in answer.headers["x-orderstate-ignored-fields"].split(", ")

    async def test_an_unknown_order_is_404_and_nothing_waits_for_it(
        self, api: Api, database_url: str
    ) -> None:
        headers = await api.as_shop("shop-s")
        answer = await api.client.post("/v2/shipments", json=shipment("S-9"), headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (404, "unknown_order")
        assert await _rows(database_url, "SELECT * FROM parked_events") == []
        # Like every REST rejection: published, and logged so that a replay rejects it again.
        outbox = await _rows(database_url, "SELECT topic_role FROM outbox ORDER BY id")
        assert [r["topic_role"] for r in outbox] == ["rejected_out", "shipments_in"]

    async def test_an_embedded_order_is_created_in_the_same_call(
        self, api: Api, database_url: str
    ) -> None:
        headers = await api.as_shop("shop-s")
        embedded = {
            "shop_order_date": "2026-11-27 10:00:00",
            "order_url": "https://shop.example.com",
            "language": "de_DE",
        }
        body = {"shop_order_id": "S-2", "tracking_code": "TRK-1", "order": embedded}
        answer = await api.client.post("/v2/shipments", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        assert answer.json()["order_state"] == "shipped"
        order = (await api.client.get("/v2/orders/S-2", headers=headers)).json()
        assert (order["language"], order["order_date"]) == ("de", "2026-11-27T10:00:00Z")
        assert [h["state"] for h in order["states_history"]] == ["new", "shipped"]
        # Both changes are logged to their inbound topics, in the order they were decided.
        logged = await _rows(
            database_url,
            f"SELECT topic_role, event::jsonb->>'type' AS type FROM {OUTBOX} "
            "WHERE topic_role IN ('orders_in', 'shipments_in') ORDER BY id",
        )
        assert [(r["topic_role"], r["type"]) for r in logged] == [
            ("orders_in", "order.created"),
            ("shipments_in", "shipment.created"),
        ]

    async def test_an_embedded_order_that_differs_from_the_existing_one_is_409(
        self, api: Api
    ) -> None:
        headers = await api.as_shop("shop-s")
        await api.client.post("/v2/orders", json=order_body("S-1"), headers=headers)
        other = {"order_date": "2026-01-01T00:00:00Z"}
        answer = await api.client.post(
            "/v2/shipments", json=shipment("S-1", order=other), headers=headers
        )
        assert (answer.status_code, answer.json()["code"]) == (409, "order_exists")
        # Decided as two Kafka events would be: the link to the existing order stands.
        assert answer.json()["detail"].endswith(
            "(the other change of this request: shipment.created was applied)"
        )


async def test_recipient_data_is_never_stored_logged_or_published(
    kafka_bootstrap: str,
    database_url: str,
    topics: TopicNames,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    personal = {
        "recipient_first_name": "Zerlinde7f3a",
        "recipient_last_name": "Quastenberg7f3a",
        "recipient_email": "zq7f3a@example.org",
        "recipient_address": "Brunnenweg 7f3a",
        "recipient_zip": "97f3a",
        "recipient_city": "Kleinstadt7f3a",
        "recipient_phone": "+49 7f3a 555",
        "recipient_company_name": "Firma7f3a",
        "sender_email": "lager7f3a@example.org",
    }
    settings = settings_for(kafka_bootstrap, database_url, topics)
    caplog.set_level("DEBUG")
    with structlog.testing.capture_logs() as logged:
        async with running(settings) as pipeline:
            async for api in api_for(settings):
                headers = await api.as_shop("shop-p")
                created = await api.client.post(
                    "/v2/orders", json=order_body("P-1"), headers=headers
                )
                assert created.status_code == 201
                answer = await api.client.post(
                    "/v2/shipments", json={**shipment("P-1"), **personal}, headers=headers
                )
                assert answer.status_code == 201
                assert set(personal) <= set(
                    answer.headers["x-orderstate-ignored-fields"].split(", ")
                )
                # A malformed request with personal data must not echo it either.
                bad = await api.client.post(
                    "/v2/shipments",
                    json={**shipment("P-1", status="lost"), **personal},
                    headers=headers,
                )
                assert bad.status_code == 422
                await wait_for(lambda: _all_published(database_url))
            published = await _everything_published(kafka_bootstrap, topics, database_url)
            assert pipeline.tasks
    stored = await _every_row(database_url)
    outbox = [r["event"] for r in await _rows(database_url, f"SELECT event FROM {OUTBOX}")]
    logs = json.dumps(logged, default=str) + caplog.text + "".join(capsys.readouterr())
    texts = {
        "answer": answer.text + bad.text,
        "database": stored,
        "outbox": "\n".join(outbox),
        "kafka": published,
        "logs": logs,
    }
    # The searches do find what was kept: the shipment's tracking code is everywhere.
    for where in ("database", "outbox", "kafka"):
        assert "TRK-1" in texts[where], where
    assert logged, "the worker, relay and API logged while the test ran"
    for value in personal.values():
        for where, text in texts.items():
            assert value not in text, f"{value!r} found in {where}"


async def _all_published(url: str) -> bool:
    rows = await _rows(url, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")
    return bool(rows[0]["n"] == 0)


async def _everything_published(kafka: str, topics: TopicNames, url: str) -> str:
    counts = {
        r["topic_role"]: r["n"]
        for r in await _rows(url, "SELECT topic_role, count(*) AS n FROM outbox GROUP BY 1")
    }
    names = {
        "orders_in": topics.orders,
        "shipments_in": topics.shipments,
        "order_events_out": topics.order_events,
        "rejected_out": topics.rejected,
    }
    text = []
    for role, topic in names.items():
        want = counts.get(role, 0)
        if want:
            seen = await consume_until(kafka, topic, functools.partial(_at_least, want))
            text += [json.dumps([p.key, p.headers, p.data]) for p in seen]
    return "\n".join(text)


async def _every_row(url: str) -> str:
    tables = await _rows(
        url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    )
    text = []
    for table in tables:
        rows = await _rows(url, f'SELECT t::text AS row FROM "{table["tablename"]}" t')
        text += [r["row"] for r in rows]
    return "\n".join(text)


class TestRead:
    async def _seed(self, api: Api) -> dict[str, str]:
        headers = await api.as_shop("shop-r")
        for order_id in ("R-1", "R-2"):
            await api.client.post("/v2/orders", json=order_body(order_id), headers=headers)
        await api.client.post("/v2/shipments", json=shipment("R-1"), headers=headers)
        await api.client.post(
            "/v2/shipments", json=shipment("R-2", tracking_code="TRK-2"), headers=headers
        )
        # A warehouse links one over Kafka: the same table, the same list.
        async with api.context.pool.acquire() as conn:
            linked = event(
                "shipment.created",
                {"shipment_id": "TRK-1", "direction": "outbound", "carrier": "ups"},
                shop="shop-r",
                order="R-2",
                # Linked at the event's time: after the two REST links above.
                minutes=(datetime(2026, 11, 28, tzinfo=UTC) - T0).total_seconds() / 60,
            )
            await apply_batch(conn, [incoming(linked)], policies=PolicyBook(), now=api.clock())
        other = await api.as_shop("shop-x")
        await api.client.post("/v2/orders", json=order_body("R-1"), headers=other)
        await api.client.post("/v2/shipments", json=shipment("R-1"), headers=other)
        return headers

    async def test_list_filters_and_pages(self, api: Api) -> None:
        headers = await self._seed(api)

        async def ids(**params: Any) -> list[tuple[str, str]]:
            answer = await api.client.get("/v2/shipments", params=params, headers=headers)
            assert answer.status_code == 200, answer.text
            return [(s["order_id"], s["id"]) for s in answer.json()]

        assert await ids() == [("R-1", "TRK-1"), ("R-2", "TRK-2"), ("R-2", "TRK-1")]
        assert await ids(order_by="-linked_at", limit=1) == [("R-2", "TRK-1")]
        assert await ids(**{"filters[order_id]": "R-2"}) == [("R-2", "TRK-2"), ("R-2", "TRK-1")]
        assert await ids(**{"filters[shop_order_id]": "R-1"}) == [("R-1", "TRK-1")]
        assert await ids(**{"filters[shipment_id]": "TRK-2"}) == [("R-2", "TRK-2")]
        assert await ids(**{"filters[return_parcel]": "true"}) == []
        page = await api.client.get(
            "/v2/shipments", params={"limit": 2, "offset": 2}, headers=headers
        )
        assert page.headers["x-total-count"] == "3"
        assert 'rel="prev"' in page.headers["link"]
        unknown = await api.client.get(
            "/v2/shipments", params={"filters[carrier]": "dhl"}, headers=headers
        )
        assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_parameter")

    async def test_one_by_id(self, api: Api) -> None:
        headers = await self._seed(api)
        one = await api.client.get("/v2/shipments/TRK-2", headers=headers)
        assert (one.status_code, one.json()["order_id"], one.json()["carrier"]) == (
            200,
            "R-2",
            "dhl",
        )
        missing = await api.client.get("/v2/shipments/TRK-9", headers=headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
        shared = await api.client.get("/v2/shipments/TRK-1", headers=headers)
        assert (shared.status_code, shared.json()["code"]) == (409, "shipment_id_ambiguous")
        assert "'R-1', 'R-2'" in shared.json()["detail"]


class TestCarriers:
    async def test_the_shipped_list(self, api: Api) -> None:
        headers = await api.as_shop("shop-c")
        answer = await api.client.get("/v2/carriers", headers=headers)
        assert answer.status_code == 200
        carriers = {c["code"]: c for c in answer.json()}
        assert carriers["colissimo"] == {
            "code": "colissimo",
            "name": "Colissimo",
            "countries": ["FR"],
        }
        assert "DE" in carriers["dpd"]["countries"]
        assert all(set(c) == {"code", "name", "countries"} for c in answer.json())

    async def test_a_file_replaces_the_list(
        self, database_url: str, kafka_bootstrap: str, tmp_path: Path
    ) -> None:
        own = tmp_path / "carriers.yaml"
        own.write_text("- {code: bike, name: Velokurier Bern, countries: [CH]}\n")
        settings = Settings(
            database_url=SecretStr(database_url),
            kafka_bootstrap_servers=kafka_bootstrap,
            carriers_file=own,
        )
        async for api in api_for(settings):
            headers = await api.as_shop("shop-c")
            answer = await api.client.get("/v2/carriers", headers=headers)
            assert answer.json() == [
                {"code": "bike", "name": "Velokurier Bern", "countries": ["CH"]}
            ]

    async def test_an_invalid_file_stops_the_start(self, tmp_path: Path) -> None:
        own = tmp_path / "carriers.json"
        own.write_text('[{"code": "bike", "name": "Velokurier", "countries": ["ch"]}]')
        context = ApiContext(
            settings=Settings(carriers_file=own),
            pool=None,  # type: ignore[arg-type]
            policies=PolicyBook(),
            clock=Clock(),
        )
        with pytest.raises(CarrierListError, match=r"0\.countries\.0: String should match"):
            create_api(context)


def _at_least(n: int, seen: list[Published]) -> bool:
    return len(seen) >= n
