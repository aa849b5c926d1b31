"""The REST API as a process, attacked by schemathesis (every phase, stateful included: it
chains the operations through the links of the OpenAPI document and those its dependency
analysis infers) with one shop's key while another shop's orders sit beside it. Shared by
tests/integration/api/test_schemathesis.py and bench/security.py."""

import asyncio
import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support.api import order_body, plain_api_key
from tests.support.pipeline import wait_for
from tests.support.processes import api_process

__all__ = ["ATTACKER", "VICTIM", "FuzzRun", "Shops", "fuzz", "order_ids", "rest_api", "shop_rows"]

CHECKS = "not_a_server_error,ignored_auth,content_type_conformance,response_schema_conformance"
ATTACKER = "fuzz-shop"
VICTIM = "victim-shop"
# Distinctive, so that any answer that carries one is a read across shops.
VICTIM_ORDERS = [f"VICTIM-{n}-c0ffee" for n in range(5)]


@dataclass
class FuzzRun:
    statuses: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    stateful_scenarios: int = 0
    # Response bodies that named one of the victim shop's orders.
    leaks: list[str] = field(default_factory=list)
    output: str = ""
    returncode: int | None = None


@dataclass
class Shops:
    base: str
    attacker_key: str
    attacker_token: str
    victim_key: str


async def _serves(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base}/v2/openapi.json")).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.asynccontextmanager
async def rest_api(database_url: str, kafka: str, log: Path) -> AsyncIterator[Shops]:
    """``orderstate api`` on a free port, with an attacker's and a victim's key; the victim
    has orders. The failed-login limit is off: the fuzzer's own requests without credentials
    would lock its address out (api/auth_limits.py has tests of its own)."""
    settings = Settings(database_url=SecretStr(database_url), kafka_bootstrap_servers=kafka)
    pepper = settings.api_key_pepper.get_secret_value()
    attacker = await plain_api_key(database_url, ATTACKER, pepper=pepper, label="attacker")
    victim = await plain_api_key(database_url, VICTIM, pepper=pepper, label="victim")
    async with api_process(
        settings,
        log,
        ORDERSTATE_LOG_LEVEL="WARNING",
        ORDERSTATE_API_AUTH_FAILURES_PER_MINUTE="0",
    ) as api:
        base = api.base_url
        await wait_for(lambda: _serves(base), timeout_s=30)
        async with httpx.AsyncClient(base_url=base) as client:
            for order_id in VICTIM_ORDERS:
                created = await client.post(
                    "/v2/orders", json=order_body(order_id), headers={"API-KEY": victim}
                )
                assert created.status_code == 201, created.text
            # Orders with the ids the generator likes, so reads and writes hit real rows too.
            for order_id in ("0", "1", "A", "00"):
                await client.post(
                    "/v2/orders", json=order_body(order_id), headers={"API-KEY": attacker}
                )
            token = (await client.post("/v2/token", json={"access_key": attacker})).json()
        yield Shops(base, attacker, token["token"], victim)


async def fuzz(
    shops: Shops, report: Path, *, max_examples: int, max_time: int | None, seed: int
) -> FuzzRun:
    """One schemathesis run as the attacker; what it saw, from its ndjson report."""
    limits = ["--max-examples", str(max_examples)]
    if max_time is not None:
        limits += ["--max-time", str(max_time)]
    run = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")),
        # Without the location-header inference, which crashes on a string in a body that
        # starts with "http://" and does not parse (tests/support/schemathesis.toml).
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{shops.base}/v2/openapi.json",
        # Both schemes, valid: a generated Authorization header would otherwise make most
        # requests a 401 that never reaches the operation.
        "--header",
        f"API-KEY: {shops.attacker_key}",
        "--header",
        f"Authorization: Bearer {shops.attacker_token}",
        "--checks",
        CHECKS,
        *limits,
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=(max_time or 600) + 300)
    found = _read_report(report)
    found.output = output.decode()
    found.returncode = run.returncode
    return found


def _read_report(report: Path) -> FuzzRun:
    found = FuzzRun()
    for line in report.read_text().splitlines():
        event: dict[str, Any] = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        if finished.get("phase") == "stateful":
            found.stateful_scenarios += 1
        for interaction in finished["recorder"].get("interactions", {}).values():
            response = interaction.get("response") or {}
            if "status_code" not in response:
                continue
            found.requests += 1
            found.statuses[response["status_code"]] += 1
            body = json.dumps(response)
            found.leaks += [order for order in VICTIM_ORDERS if order in body]
    return found


async def shop_rows(database_url: str, shop: str) -> list[tuple[Any, ...]]:
    """Everything stored for ``shop``'s orders: a write across shops would change it."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT order_id, version, deleted, view FROM orders WHERE shop_id = $1 "
            "ORDER BY order_id",
            shop,
        )
        history = await conn.fetchval(
            "SELECT count(*) FROM order_state_history WHERE shop_id = $1", shop
        )
    finally:
        await conn.close()
    return [tuple(r) for r in rows] + [("history", history)]


async def order_ids(database_url: str, shop: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return [
            r["order_id"]
            for r in await conn.fetch(
                "SELECT order_id FROM orders WHERE shop_id = $1 AND NOT deleted", shop
            )
        ]
    finally:
        await conn.close()
