"""The Kafka security settings on a real broker that demands SASL.

``deploy/local/kafka-sasl.sh`` runs a second native broker whose only client listener is
SASL_PLAINTEXT (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN), with users created when its storage is
formatted. The real worker and relay run against it with SCRAM credentials taken from
settings, exactly as in production; wrong credentials must fail fast and say why.
"""

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from orderstate.health.readiness import Readiness
from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from orderstate.topics_admin import create_topics
from tests.support.events import created, record, state
from tests.support.infra import LOCAL
from tests.support.kafka import TopicNames, unique_topics
from tests.support.pipeline import running, settings_for, wait_for
from tests.support.processes import env_for

# Any value but the user's real password; a constant so the failure message is predictable.
WRONG_PASSWORD = "not-the-password"


def _script(*args: str) -> str:
    result = subprocess.run(
        [str(LOCAL / "kafka-sasl.sh"), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"deploy/local/kafka-sasl.sh {' '.join(args)} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}",
            pytrace=False,
        )
    return result.stdout


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False


@pytest.fixture(scope="module")
def sasl_env() -> Iterator[dict[str, str]]:
    """ORDERSTATE_KAFKA_* of the SASL broker; started here (and stopped after) if not running."""
    env = dict(line.split("=", 1) for line in _script("env").splitlines() if "=" in line)
    started = False
    if not _answers(env["ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS"]):
        subprocess.run([str(LOCAL / "kafka-jars.sh")], check=True, capture_output=True)
        _script("start")
        started = True
    try:
        yield env
    finally:
        if started:
            _script("stop")


def _sasl_settings(
    env: dict[str, str], database_url: str, topics: TopicNames, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "kafka_security_protocol": env["ORDERSTATE_KAFKA_SECURITY_PROTOCOL"],
        "kafka_sasl_mechanism": env["ORDERSTATE_KAFKA_SASL_MECHANISM"],
        "kafka_sasl_username": env["ORDERSTATE_KAFKA_SASL_USERNAME"],
        "kafka_sasl_password": env["ORDERSTATE_KAFKA_SASL_PASSWORD"],
    }
    values.update(overrides)
    return settings_for(env["ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS"], database_url, topics, **values)


@pytest.fixture
async def sasl_topics(sasl_env: dict[str, str], database_url: str) -> AsyncIterator[TopicNames]:
    """Unique topics on the SASL broker, created by `orderstate topics create`'s code path."""
    names = unique_topics()
    settings = _sasl_settings(sasl_env, database_url, names)
    await create_topics(settings, partitions=3)
    yield names
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="test-cleanup"))
    await admin.start()
    try:
        # `topics create` also made the monitor's changelog topics, named after its group.
        made = [t for t in await admin.list_topics() if t.startswith(settings.monitor_group)]
        await admin.delete_topics([*names.all, *made])
    finally:
        await admin.close()


async def _produce(settings: Settings, topic: str, records: list[Any]) -> None:
    producer = AIOKafkaProducer(
        **kafka_options(settings, role="test-producer"), enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, key=key, value=value, headers=headers)
    finally:
        await producer.stop()


async def _state_changes(settings: Settings, count: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        settings.topic_order_events,
        **kafka_options(settings, role="test-consumer"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while len(seen) < count:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    seen.extend(
                        json.loads(r.value)
                        for r in batch
                        if dict(r.headers).get("ce_type") == b"order.state_changed"
                    )
    finally:
        await consumer.stop()
    return seen


async def _order_state(settings: Settings, order_id: str) -> str | None:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        found: str | None = await conn.fetchval(
            "SELECT state FROM orders WHERE order_id = $1", order_id
        )
    finally:
        await conn.close()
    return found


async def test_worker_and_relay_apply_events_with_scram_sha_512(
    sasl_env: dict[str, str], database_url: str, sasl_topics: TopicNames
) -> None:
    settings = _sasl_settings(sasl_env, database_url, sasl_topics)
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    await _produce(
        settings,
        sasl_topics.orders,
        [record(created(order="ORD-SASL")), record(state("paid", order="ORD-SASL"))],
    )

    async with running(settings) as run:
        await wait_for(lambda: _is_paid(settings))
        changes = await _state_changes(settings, 2)
        # What Kubernetes' readiness probe of a worker asks: PostgreSQL at head and Kafka
        # metadata, the latter through the same authenticated options.
        readiness = Readiness.for_parts({"worker"}, settings, run.pool)
        try:
            assert await readiness() == []
        finally:
            await readiness.close()

    assert [(c["from_state"], c["to_state"]) for c in changes] == [(None, "new"), ("new", "paid")]


async def _is_paid(settings: Settings) -> bool:
    return await _order_state(settings, "ORD-SASL") == "paid"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
async def test_the_other_mechanisms_authenticate(
    sasl_env: dict[str, str], database_url: str, sasl_topics: TopicNames, mechanism: str
) -> None:
    settings = _sasl_settings(sasl_env, database_url, sasl_topics, kafka_sasl_mechanism=mechanism)
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="test-mechanism"))
    await admin.start()
    try:
        assert sasl_topics.orders in await admin.list_topics()
    finally:
        await admin.close()


async def test_wrong_password_is_not_ready(
    sasl_env: dict[str, str], database_url: str, sasl_topics: TopicNames
) -> None:
    settings = _sasl_settings(
        sasl_env, database_url, sasl_topics, kafka_sasl_password=WRONG_PASSWORD
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    readiness = Readiness.for_parts({"worker"}, settings, pool)
    try:
        assert await readiness() == ["kafka"]
    finally:
        await readiness.close()
        await pool.close()


async def test_worker_with_a_wrong_password_exits_and_says_why(
    sasl_env: dict[str, str], database_url: str, sasl_topics: TopicNames
) -> None:
    """The real `orderstate worker` process, as a pod would run it: it must not hang or retry
    silently, and its output must name the authentication failure."""
    settings = _sasl_settings(sasl_env, database_url, sasl_topics)
    env = env_for(
        settings,
        ORDERSTATE_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        ORDERSTATE_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        ORDERSTATE_KAFKA_SASL_USERNAME=sasl_env["ORDERSTATE_KAFKA_SASL_USERNAME"],
        ORDERSTATE_KAFKA_SASL_PASSWORD=WRONG_PASSWORD,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "worker",
        "--ops-port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    assert process.returncode != 0, text
    assert "SaslAuthenticationFailed" in text, text
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in text, text
