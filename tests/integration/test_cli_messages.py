"""What the orderstate command says to a person: Kafka out of reach in one line, the REST API
in the help, and `orderstate api` on the address and port it is given."""

import asyncio
import json
import sys
import time
import urllib.request
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import SecretStr

from orderstate.domain import PolicyBook
from orderstate.projector.apply import apply_batch
from orderstate.settings import Settings
from tests.support.events import created, incoming
from tests.support.processes import env_for, free_port, orderstate

_NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "who"),
    [
        (("topics", "create"), "orderstate: the topic set-up"),
        (("run", "--ops-port", "0"), "orderstate: the topic set-up"),
        (("worker", "--ops-port", "0"), '{"error": "the worker'),  # a JSON log line
    ],
)
async def test_kafka_out_of_reach_is_one_line_naming_the_address_and_what_to_check(
    database_url: str, args: tuple[str, ...], who: str
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    settings = Settings(database_url=SecretStr(database_url), kafka_bootstrap_servers=nobody)
    code, _, err = await orderstate(settings, *args, ORDERSTATE_KAFKA_STARTUP_WAIT_S="0")
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(who), err
    assert f"cannot reach Kafka at {nobody} (PLAINTEXT): " in lines[0]
    # The cause as the event loop words it: asyncio's "Connect call failed", uvloop's errno.
    assert "Connect call failed" in lines[0] or "Connection refused" in lines[0], lines[0]
    assert "Check that the brokers run and ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS" in lines[0]


@pytest.mark.parametrize("option", ["--partitions", "--replication"])
async def test_topics_create_refuses_zero_partitions_or_replicas(
    database_url: str, option: str
) -> None:
    # --partitions 0 was read as "not given" and became ORDERSTATE_TOPIC_PARTITIONS.
    settings = Settings(database_url=SecretStr(database_url))
    code, _, err = await orderstate(settings, "topics", "create", option, "0")
    assert code == 2, err
    assert f"Invalid value for '{option}'" in err, err
    assert "greater than or equal to" in err, err


async def test_a_worker_says_once_that_it_waits_for_kafka_then_why_it_gives_up(
    database_url: str,
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    settings = Settings(database_url=SecretStr(database_url), kafka_bootstrap_servers=nobody)
    code, _, err = await orderstate(
        settings, "worker", "--ops-port", "0", ORDERSTATE_KAFKA_STARTUP_WAIT_S="3"
    )
    assert code == 2
    waiting, failed = (json.loads(line) for line in err.splitlines())
    assert (waiting["event"], waiting["servers"], waiting["wait_s"]) == (
        "kafka_unreachable_waiting",
        nobody,
        3.0,
    )
    assert failed["event"] == "startup_failed"
    assert f"cannot reach Kafka at {nobody}" in failed["error"]


async def test_the_help_names_the_rest_api_and_the_api_takes_host_and_port() -> None:
    settings = Settings()
    code, out, _ = await orderstate(settings, "--help", COLUMNS="200")
    assert code == 0
    assert "REST API shaped on the Seven Senders Orders API v2" in out
    assert "`api` (the REST API)" in out or "api (the REST API)" in out
    code, out, _ = await orderstate(settings, "api", "--help", COLUMNS="200")
    assert code == 0
    assert "--host" in out
    assert "--port" in out


async def test_the_api_listens_on_the_host_and_port_it_is_given(database_url: str) -> None:
    port = free_port()
    settings = Settings(database_url=SecretStr(database_url))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ops-port",
        "0",
        # The setting names another port: the option wins.
        env=env_for(settings, ORDERSTATE_API_PORT=str(free_port())),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        # /healthz is on the ops port: the REST port answers its OpenAPI document.
        answer = await asyncio.to_thread(_json_within, port, "/v2/openapi.json", 30.0)
    finally:
        process.terminate()
        code = await asyncio.wait_for(process.wait(), timeout=30)
    assert isinstance(answer, dict) and answer["info"]["title"] == "orderstate"
    assert code == 0


def _json_within(port: int, path: str, seconds: float) -> object:
    deadline = time.monotonic() + seconds
    url = f"http://127.0.0.1:{port}{path}"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def test_switching_the_view_form_says_what_it_did_and_applies_no_migration(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await apply_batch(conn, [incoming(created())], policies=PolicyBook(), now=_NOW)
        settings = Settings(database_url=SecretStr(database_url))
        code, out, err = await orderstate(settings, "migrate", "--rewrite-views-with-history")
        view = json.loads(await conn.fetchval("SELECT view FROM orders"))
        form_after_rewrite = await conn.fetchval("SELECT with_history FROM view_form")
        back = await orderstate(settings, "migrate", "--views-without-history")
        form_after_back = await conn.fetchval("SELECT with_history FROM view_form")
        both = await orderstate(
            settings, "migrate", "--views-without-history", "--rewrite-views-with-history"
        )
        # A database before migration 10 has no form to switch.
        await conn.execute("DELETE FROM schema_migrations WHERE version >= 10")
        early = await orderstate(settings, "migrate", "--views-without-history")
    finally:
        await conn.close()
    assert (code, out.strip()) == (
        0,
        "rewrote 1 order view, history entries included, and views are stored so from now "
        "on: a release before migration 0009 can read them",
    ), err
    assert [h["state"] for h in view["history"]] == ["new"]
    assert (form_after_rewrite, form_after_back) == (True, False)
    assert (back[0], back[1].strip()) == (
        0,
        "order views are stored without their history entries from now on, each at its "
        "order's next change; every pod must run a release from migration 0009 on",
    )
    assert (both[0], both[2].strip()) == (
        1,
        "orderstate: --views-without-history and --rewrite-views-with-history cannot be given "
        "together: each is a step of its own",
    )
    assert (early[0], early[2].strip()) == (
        1,
        "orderstate: the database is at migration 9: views are stored with their history "
        "entries until migration 10; run `orderstate migrate` first",
    )
