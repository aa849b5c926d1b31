"""Kafka over TLS, against a certificate authority this session made with openssl and keytool
(tests/support/tls.py): the real worker and relay with SCRAM-SHA-512 on SASL_SSL, and with a
client certificate and no SASL on SSL (mutual TLS). A client that trusts another CA fails at
start, at once, and says that the broker's certificate was refused."""

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
from tests.support.tls import make_other_authority

MODES = ["sasl_ssl", "mutual_tls"]


def _values(broker: SecureBroker, mode: str, ca: Path | None = None) -> tuple[str, dict[str, Any]]:
    """The bootstrap address and the ORDERSTATE_KAFKA_* security settings of ``mode``."""
    cafile = str(ca or broker.authority.ca)
    if mode == "sasl_ssl":
        env = broker.sasl_ssl
        return env["ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS"], {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": env["ORDERSTATE_KAFKA_SASL_USERNAME"],
            "kafka_sasl_password": env["ORDERSTATE_KAFKA_SASL_PASSWORD"],
            "kafka_ssl_cafile": cafile,
        }
    return broker.ssl, {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": cafile,
        "kafka_ssl_certfile": str(broker.authority.client_cert),
        "kafka_ssl_keyfile": str(broker.authority.client_key),
    }


def _settings(
    broker: SecureBroker, mode: str, database_url: str, topics: TopicNames, ca: Path | None = None
) -> Settings:
    bootstrap, values = _values(broker, mode, ca)
    return settings_for(bootstrap, database_url, topics, **values)


@pytest.fixture
async def tls_topics(secure_kafka: SecureBroker, database_url: str) -> AsyncIterator[TopicNames]:
    names = unique_topics()
    settings = _settings(secure_kafka, "sasl_ssl", database_url, names)
    await create_topics(settings, partitions=2)
    yield names
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="test-cleanup"))
    await admin.start()
    try:
        await admin.delete_topics(names.all)
    finally:
        await admin.close()


@pytest.mark.parametrize("mode", MODES)
async def test_worker_and_relay_run_over_tls(
    secure_kafka: SecureBroker, database_url: str, tls_topics: TopicNames, mode: str
) -> None:
    settings = _settings(secure_kafka, mode, database_url, tls_topics)
    order = f"ORD-{mode}"
    await produce_with(
        settings,
        tls_topics.orders,
        [record(created(order=order)), record(state("paid", order=order))],
    )

    async def paid() -> bool:
        return await order_state(settings, order) == "paid"

    async with running(settings) as run:
        await wait_for(paid)
        changes = await state_changes(settings, 2)
        readiness = Readiness.for_parts({"worker", "relay"}, settings, run.pool)
        try:
            assert await readiness() == []
        finally:
            await readiness.close()
    assert [(c["from_state"], c["to_state"]) for c in changes] == [(None, "new"), ("new", "paid")]


async def test_a_wrong_ca_fails_at_start_and_says_why(
    secure_kafka: SecureBroker, database_url: str, tls_topics: TopicNames, tmp_path: Path
) -> None:
    other_ca = make_other_authority(tmp_path)

    async def start(mode: str, command: str) -> tuple[int, str, float]:
        settings = _settings(secure_kafka, mode, database_url, tls_topics, ca=other_ca)
        _, values = _values(secure_kafka, mode, other_ca)
        env = env_for(settings, **{f"ORDERSTATE_{k.upper()}": str(v) for k, v in values.items()})
        began = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orderstate",
            command,
            "--ops-port",
            "0",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout=90)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode, output.decode(errors="replace"), time.monotonic() - began

    runs = [(mode, command) for mode in MODES for command in ("worker", "relay")]
    results = await asyncio.gather(*(start(mode, command) for mode, command in runs))
    for (mode, command), (code, output, took) in zip(runs, results, strict=True):
        where = f"{mode} {command}: {output}"
        assert code == 2, where
        assert "the broker's TLS certificate was refused" in output, where
        assert "check ORDERSTATE_KAFKA_SSL_CAFILE" in output, where
        assert took < 45, where
