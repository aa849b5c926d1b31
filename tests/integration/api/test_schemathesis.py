"""Property-based requests from the published OpenAPI against the running API: no 5xx."""

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support.api import order_body, plain_api_key
from tests.support.pipeline import wait_for
from tests.support.processes import env_for

_CHECKS = "not_a_server_error,ignored_auth,content_type_conformance,response_schema_conformance"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def test_a_thousand_generated_requests_and_no_server_error(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=SecretStr(database_url), kafka_bootstrap_servers=kafka_bootstrap
    )
    key = await plain_api_key(
        database_url,
        "fuzz-shop",
        pepper=settings.api_key_pepper.get_secret_value(),
        label="schemathesis",
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "api.log").open("wb")
    api = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "api",
        env=env_for(settings, ORDERSTATE_API_PORT=str(port), ORDERSTATE_LOG_LEVEL="WARNING"),
        stdout=log,
        stderr=log,
    )
    try:
        await wait_for(lambda: _ready(base), timeout_s=30)
        async with httpx.AsyncClient(base_url=base, headers={"API-KEY": key}) as client:
            # Orders with the ids the generator likes, so reads and writes also hit real rows.
            for order_id in ("0", "1", "A", "00"):
                await client.post("/v2/orders", json=order_body(order_id))
        report = tmp_path / "report.ndjson"
        run = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(Path(__file__).parents[2] / "support" / "schemathesis.toml"),
            "run",
            f"{base}/v2/openapi.json",
            "--header",
            f"API-KEY: {key}",
            "--checks",
            _CHECKS,
            "--max-examples",
            "60",
            "--seed",
            "20261127",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        )
        output, _ = await asyncio.wait_for(run.communicate(), timeout=600)
    finally:
        api.terminate()
        await api.wait()
        log.close()
    statuses = _statuses(report)
    summary = output.decode()[-4000:]
    assert sum(statuses.values()) >= 1000, summary
    assert not [s for s in statuses if s >= 500], (statuses, summary)
    assert run.returncode == 0, summary
    assert "Traceback" not in (tmp_path / "api.log").read_text()


def _statuses(report: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        for interaction in finished["recorder"].get("interactions", {}).values():
            response = interaction.get("response") or {}
            if "status_code" in response:
                status = response["status_code"]
                counts[status] = counts.get(status, 0) + 1
    return counts
