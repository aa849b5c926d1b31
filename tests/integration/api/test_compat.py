"""Seven Senders request shapes orderstate reads, one rule per test (README deviations table)."""

from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support.api import Api, api_for, order_body


def _legacy_order(order_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shop_order_id": order_id,
        "shop_order_url": "https://www.7s.com",
        "shop_order_date": "2017-08-10T05:45:00+0000",
        "boarding_complete": False,
    }
    body.update(overrides)
    return body


class TestLegacyShapes:
    async def test_shop_order_names_of_2017(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        answer = await api.client.post("/v2/orders", json=_legacy_order("L-1"), headers=headers)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert (body["order_id"], body["order_url"]) == ("L-1", "https://www.7s.com")
        # "+0000" without a colon, as the 2017 examples write offsets.
        assert body["order_date"] == "2017-08-10T05:45:00Z"

    async def test_both_names_of_one_field_with_two_values_is_422(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        body = {**order_body("L-1"), "shop_order_id": "L-2"}
        answer = await api.client.post("/v2/orders", json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (422, "malformed")
        assert answer.json()["errors"] == [
            {
                "field": "body.shop_order_id",
                "message": "shop_order_id is the legacy name of order_id; both were given with "
                "different values",
            }
        ]

    async def test_language_as_an_array(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        answer = await api.client.post(
            "/v2/orders", json=_legacy_order("L-1", language=["en"]), headers=headers
        )
        assert answer.json()["language"] == "en"
        empty = await api.client.post(
            "/v2/orders", json=_legacy_order("L-2", language=[]), headers=headers
        )
        assert empty.json()["language"] is None

    async def test_order_tags_as_a_list_of_strings(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        answer = await api.client.post(
            "/v2/orders", json=_legacy_order("L-1", order_tags=["SKU 1234", "vip"]), headers=headers
        )
        assert answer.json()["order_tags"] == {"SKU 1234": "", "vip": ""}
        tags = await api.client.put(
            "/v2/orders/L-1/tags", json={"order_tags": ["gift"]}, headers=headers
        )
        assert tags.json() == {"gift": ""}

    async def test_shop_order_id_on_order_states(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        await api.client.post("/v2/orders", json=_legacy_order("L-1"), headers=headers)
        state = {"shop_order_id": "L-1", "state": "paid", "datetime": "2017-08-15T16:53:07+01:00"}
        answer = await api.client.post("/v2/order-states", json=state, headers=headers)
        assert (answer.status_code, answer.json()["state"]) == (201, "paid")

    async def test_json_suffixes_on_the_documented_paths(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        created = await api.client.post(
            "/v2/orders.json", json=_legacy_order("L-1"), headers=headers
        )
        assert created.status_code == 201
        state = {"order_id": "L-1", "state": "paid", "datetime": "2017-08-15T16:53:07+01:00"}
        posted = await api.client.post("/v2/order-states.json", json=state, headers=headers)
        assert posted.status_code == 201
        one = await api.client.get("/v2/orders/L-1.json", headers=headers)
        assert (one.status_code, one.json()["state"]) == (200, "paid")
        listed = await api.client.get("/v2/orders.json", headers=headers)
        assert [o["order_id"] for o in listed.json()] == ["L-1"]
        for path in ("/v2/shipments.json", "/v2/carriers.json"):
            assert (await api.client.get(path, headers=headers)).status_code == 200

    async def test_an_order_id_ending_in_json_takes_the_suffix_twice(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        await api.client.post("/v2/orders", json=order_body("report.json"), headers=headers)
        answer = await api.client.get("/v2/orders/report.json.json", headers=headers)
        assert answer.json()["order_id"] == "report.json"

    async def test_filters_shop_order_id_and_order_id(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        for order_id in ("L-1", "L-2", "L-3"):
            await api.client.post("/v2/orders", json=order_body(order_id), headers=headers)

        async def ids(params: Any) -> list[str]:
            answer = await api.client.get("/v2/orders", params=params, headers=headers)
            assert answer.status_code == 200, answer.text
            return [o["order_id"] for o in answer.json()]

        assert await ids({"filters[shop_order_id]": "L-2"}) == ["L-2"]
        assert await ids({"filters[order_id]": ["L-1", "L-3"]}) == ["L-1", "L-3"]
        assert await ids({"shop_order_id": "L-3"}) == ["L-3"]
        assert await ids({"order_id": "L-1"}) == ["L-1"]

    async def test_the_api_key_header(self, api: Api) -> None:
        key = await api.key("shop-a")
        answer = await api.client.post(
            "/v2/orders.json", json=_legacy_order("L-1"), headers={"API-KEY": key}
        )
        assert answer.status_code == 201


class TestReadingRules:
    async def test_naive_datetimes_are_read_in_the_keys_time_zone(self, api: Api) -> None:
        berlin = await api.as_shop("shop-a", time_zone="Europe/Berlin")
        default = await api.as_shop("shop-b")
        body = order_body("N-1", order_date="2026-07-01 08:00:00.000000")
        in_berlin = await api.client.post("/v2/orders", json=body, headers=berlin)
        in_utc = await api.client.post("/v2/orders", json=body, headers=default)
        assert in_berlin.json()["order_date"] == "2026-07-01T08:00:00+02:00"
        assert in_utc.json()["order_date"] == "2026-07-01T08:00:00Z"
        state = {"order_id": "N-1", "state": "paid", "datetime": "2026-07-01T09:15:00"}
        paid = await api.client.post("/v2/order-states", json=state, headers=berlin)
        history = (await api.client.get("/v2/orders/N-1", headers=berlin)).json()["states_history"]
        assert paid.status_code == 201
        assert history[-1]["datetime"] == "2026-07-01T09:15:00+02:00"

    async def test_the_time_zone_setting_is_the_default_of_keys_without_one(
        self, database_url: str, kafka_bootstrap: str
    ) -> None:
        settings = Settings(
            database_url=SecretStr(database_url),
            kafka_bootstrap_servers=kafka_bootstrap,
            api_time_zone="America/New_York",
        )
        async for api in api_for(settings):
            headers = await api.as_shop("shop-a")
            body = order_body("N-1", order_date="2026-01-15T10:00:00")
            answer = await api.client.post("/v2/orders", json=body, headers=headers)
            assert answer.json()["order_date"] == "2026-01-15T10:00:00-05:00"

    async def test_a_naive_date_filter_is_read_in_the_keys_zone_too(self, api: Api) -> None:
        headers = await api.as_shop("shop-a", time_zone="Europe/Berlin")
        body = order_body("N-1", order_date="2026-07-01T07:30:00Z")  # 09:30 in Berlin
        await api.client.post("/v2/orders", json=body, headers=headers)
        params = {"filters[order_date_from]": "2026-07-01T09:00:00"}
        before = {"filters[order_date_from]": "2026-07-01T10:00:00"}
        found = await api.client.get("/v2/orders", params=params, headers=headers)
        missed = await api.client.get("/v2/orders", params=before, headers=headers)
        assert ([o["order_id"] for o in found.json()], missed.json()) == (["N-1"], [])

    async def test_both_spellings_of_a_date_bound_both_apply(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        for day in (1, 2, 3):
            body = order_body(f"D-{day}", order_date=f"2026-07-0{day}T12:00:00Z")
            await api.client.post("/v2/orders", json=body, headers=headers)
        params = {
            "filters[order_date_from]": "2026-07-01T00:00:00Z",
            "order_date[after]": "2026-07-02T00:00:00Z",
            "order_date[before]": "2026-07-03T00:00:00Z",
        }
        answer = await api.client.get("/v2/orders", params=params, headers=headers)
        assert [o["order_id"] for o in answer.json()] == ["D-2"]

    @pytest.mark.parametrize(
        ("sent", "kept"),
        [("de_DE", "de"), ("en_GB.UTF-8", "en"), ("FR", "fr"), ("de-de", "de-DE"), ("", None)],
    )
    async def test_locales_become_languages(self, api: Api, sent: str, kept: str | None) -> None:
        headers = await api.as_shop("shop-a")
        answer = await api.client.post(
            "/v2/orders", json=order_body("N-1", language=sent), headers=headers
        )
        assert answer.json()["language"] == kept

    async def test_an_empty_order_url_is_none(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        answer = await api.client.post(
            "/v2/orders", json=order_body("N-1", order_url=""), headers=headers
        )
        assert (answer.status_code, answer.json()["order_url"]) == (201, None)

    async def test_a_numeric_order_id_is_its_decimal_string(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        answer = await api.client.post(
            "/v2/orders",
            json=order_body(1001),  # type: ignore[arg-type]  # a number where a string belongs
            headers=headers,
        )
        assert (answer.json()["order_id"], answer.json()["iri"]) == ("1001", "/v2/orders/1001")

    async def test_json_without_a_content_type_and_not_json_is_415(self, api: Api) -> None:
        key = await api.key("shop-a")
        bare = api.client.build_request(
            "POST", "/v2/token", content=b'{"access_key": "' + key.encode() + b'"}'
        )
        assert "content-type" not in bare.headers
        assert (await api.client.send(bare)).status_code == 200
        form = await api.client.post(
            "/v2/token",
            content=b"access_key=" + key.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (form.status_code, form.json()["code"]) == (415, "unsupported_media_type")


class TestUnknownFields:
    async def test_ignored_named_in_a_header_and_counted(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        labels = {"route": "/v2/orders", "field": "(unknown)"}
        before = REGISTRY.get_sample_value("orderstate_api_ignored_fields_total", labels) or 0
        body = {**order_body("U-1"), "gift_wrap": True, "channel,name": "web"}
        answer = await api.client.post("/v2/orders", json=body, headers=headers)
        assert answer.status_code == 201
        assert answer.headers["x-orderstate-ignored-fields"] == "gift_wrap, channel%2Cname"
        after = REGISTRY.get_sample_value("orderstate_api_ignored_fields_total", labels)
        assert after == before + 2

    async def test_unknown_fields_of_items_are_ignored_too(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        body = order_body("U-1")
        body["items"][0]["ean"] = "4006381333931"
        answer = await api.client.post("/v2/orders", json=body, headers=headers)
        assert answer.status_code == 201
        assert answer.headers["x-orderstate-ignored-fields"] == "items.0.ean"

    async def test_a_strict_key_refuses_an_unknown_field_by_name(self, api: Api) -> None:
        headers = await api.as_shop("shop-a", unknown_fields="refuse")
        body = {**order_body("U-1"), "gift_wrap": True}
        answer = await api.client.post("/v2/orders", json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (422, "malformed")
        assert answer.json()["errors"] == [
            {
                "field": "body.gift_wrap",
                "message": "unknown field; this API key refuses fields orderstate does not know",
            }
        ]
        assert (await api.client.get("/v2/orders/U-1", headers=headers)).status_code == 404

    async def test_a_strict_key_still_accepts_seven_senders_fields_it_does_not_use(
        self, api: Api
    ) -> None:
        headers = await api.as_shop("shop-a", unknown_fields="refuse")
        body = {**order_body("U-1"), "delivered_with_seven_senders": True}
        answer = await api.client.post("/v2/orders", json=body, headers=headers)
        assert answer.status_code == 201
        assert answer.headers["x-orderstate-ignored-fields"] == "delivered_with_seven_senders"

    async def test_the_setting_makes_every_key_strict_unless_the_key_says_ignore(
        self, database_url: str, kafka_bootstrap: str
    ) -> None:
        settings = Settings(
            database_url=SecretStr(database_url),
            kafka_bootstrap_servers=kafka_bootstrap,
            api_unknown_fields="refuse",
        )
        async for api in api_for(settings):
            strict = await api.as_shop("shop-a")
            lenient = await api.as_shop("shop-a", unknown_fields="ignore")
            body = {**order_body("U-1"), "gift_wrap": True}
            refused = await api.client.post("/v2/orders", json=body, headers=strict)
            taken = await api.client.post("/v2/orders", json=body, headers=lenient)
            assert (refused.status_code, taken.status_code) == (422, 201)


class TestUnknownQueryParameters:
    async def test_an_unknown_filter_is_400_naming_it(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        await api.client.post("/v2/orders", json=order_body("Q-1"), headers=headers)
        params = {"filters[shop_order]": "Q-2", "filters[state]": "new", "sort": "x"}
        answer = await api.client.get("/v2/orders", params=params, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (400, "unknown_parameter")
        assert answer.json()["detail"].startswith(
            "unknown query parameters 'filters[shop_order]', 'sort'; /v2/orders takes "
        )

    async def test_a_route_without_parameters_takes_none(self, api: Api) -> None:
        headers = await api.as_shop("shop-a")
        answer = await api.client.post(
            "/v2/orders", params={"dry_run": "1"}, json=order_body("Q-1"), headers=headers
        )
        assert (answer.status_code, answer.json()["code"]) == (400, "unknown_parameter")
        assert answer.json()["detail"] == (
            "unknown query parameter 'dry_run'; /v2/orders takes no query parameters"
        )
        assert (await api.client.get("/v2/orders/Q-1", headers=headers)).status_code == 404
