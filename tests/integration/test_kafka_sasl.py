"""The Kafka security settings on a real broker that demands SASL.

``deploy/local/kafka-sasl.sh`` runs a second native broker whose client listeners all demand
authentication: SASL_PLAINTEXT (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN) here, SASL_SSL and mutual
TLS in test_kafka_tls.py, with users created when its storage is formatted. The real worker
and relay run against it with SCRAM credentials taken from settings, exactly as in production;
wrong credentials must fail fast and say why.
"""

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from orderstate.health.readiness import Readiness
from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from orderstate.topics_admin import create_topics
from tests.support.events import created, record, state
from tests.support.kafka import TopicNames, unique_topics
from tests.support.pipeline import running, settings_for, wait_for
from tests.support.processes import env_for
from tests.support.secure_kafka import SecureBroker, order_state, produce_with, state_changes

# Any value but the user's real password; a constant so the failure message is predictable.
WRONG_PASSWORD = "not-the-password"


@pytest.fixture(scope="module")
def sasl_env(secure_kafka: SecureBroker) -> dict[str, str]:
    """ORDERSTATE_KAFKA_* of the SASL listener (the session's broker, shared with the TLS
    tests)."""
    return secure_kafka.sasl


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


async def test_worker_and_relay_apply_events_with_scram_sha_512(
    sasl_env: dict[str, str], database_url: str, sasl_topics: TopicNames
) -> None:
    settings = _sasl_settings(sasl_env, database_url, sasl_topics)
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    await produce_with(
        settings,
        sasl_topics.orders,
        [record(created(order="ORD-SASL")), record(state("paid", order="ORD-SASL"))],
    )

    async with running(settings) as run:
        await wait_for(lambda: _is_paid(settings))
        changes = await state_changes(settings, 2)
        # What Kubernetes' readiness probe of a worker asks: PostgreSQL at head and Kafka
        # metadata, the latter through the same authenticated options.
        readiness = Readiness.for_parts({"worker"}, settings, run.pool)
        try:
            assert await readiness() == []
        finally:
            await readiness.close()

    assert [(c["from_state"], c["to_state"]) for c in changes] == [(None, "new"), ("new", "paid")]


async def _is_paid(settings: Settings) -> bool:
    return await order_state(settings, "ORD-SASL") == "paid"


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
    assert WRONG_PASSWORD not in text
