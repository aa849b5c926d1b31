"""`orderstate run` as a user starts it: Kafka events in, REST reads and Kafka events out."""

import asyncio
import re
import signal
import sys
from pathlib import Path

import httpx

from tests.support.api import plain_api_key
from tests.support.events import created, record, shipment, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import consume_until, produce, settings_for, wait_for
from tests.support.processes import env_for, free_port

_LAG = re.compile(r'id="consumer-lag">\s*\d+ records')


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await client.get(path)


async def test_orderstate_run_end_to_end(
    kafka_bootstrap: str, database_url: str, topics: TopicNames, tmp_path: Path
) -> None:
    settings = settings_for(kafka_bootstrap, database_url, topics)
    api_port, ops_port = free_port(), free_port()
    log = (tmp_path / "run.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "run",
        "--ops-port",
        str(ops_port),
        env=env_for(settings, ORDERSTATE_API_PORT=str(api_port)),
        stdout=log,
        stderr=log,
    )
    try:
        async with httpx.AsyncClient() as probe:

            async def ready() -> bool:
                try:
                    answer = await probe.get(f"http://127.0.0.1:{ops_port}/readyz")
                except httpx.HTTPError:
                    return False
                return answer.status_code == 200

            await wait_for(ready, timeout_s=60)
        key = await plain_api_key(
            database_url,
            "shop-1",
            pepper=settings.api_key_pepper.get_secret_value(),
            label="e2e",
        )

        await produce(kafka_bootstrap, topics.orders, [record(created()), record(state("paid"))])
        base = f"http://127.0.0.1:{api_port}"
        async with httpx.AsyncClient(base_url=base, headers={"API-KEY": key}) as client:

            async def paid() -> bool:
                answer = await client.get("/v2/orders/ORD-1")
                return answer.status_code == 200 and answer.json()["state"] == "paid"

            await wait_for(paid, timeout_s=60)
            await produce(kafka_bootstrap, topics.shipments, [record(shipment("S1"))])

            async def shipped() -> bool:
                state: str = (await client.get("/v2/orders/ORD-1")).json()["state"]
                return state == "shipped"

            await wait_for(shipped, timeout_s=60)
            listed = await client.get("/v2/orders", params={"filters[state]": "shipped"})
        out = await consume_until(
            kafka_bootstrap,
            topics.order_events,
            lambda seen: sum(p.type == "order.state_changed" for p in seen) >= 3,
        )
        async with httpx.AsyncClient() as probe:
            metrics = (await probe.get(f"http://127.0.0.1:{ops_port}/metrics")).text
        # The web console is served by the same process, where the worker's lag is measured.
        async with httpx.AsyncClient(base_url=base) as person:
            logged_in = await person.post(
                "/ui/login", data={"access_key": key, "next": "/ui/"}, headers={"Origin": base}
            )
            pages: list[str] = []

            async def lag_shown() -> bool:
                # The worker measures its lag every few seconds, the first time after start-up.
                pages.append((await person.get("/ui/")).text)
                return _LAG.search(pages[-1]) is not None

            await wait_for(lag_shown, timeout_s=30)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=15)
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert [o["order_id"] for o in listed.json()] == ["ORD-1"]
    assert [p.data["to_state"] for p in out if p.type == "order.state_changed"] == [
        "new",
        "paid",
        "shipped",
    ]
    assert 'orderstate_events_total{outcome="applied",reason=""}' in metrics
    assert logged_in.status_code == 303
