"""The second native broker of deploy/local/kafka-sasl.sh, once per test session: SASL on
SASL_PLAINTEXT, the same users on SASL_SSL, and SSL with client certificates required, all
with a certificate authority this session makes (tests/support/tls.py).

Started here when it does not run, and stopped at the end of the session; one that runs
already (``deploy/local/kafka-sasl.sh start`` by hand after a test session made its TLS
material) is used as it is.
"""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from tests.support.infra import LOCAL
from tests.support.tls import Authority, make_authority

__all__ = ["SecureBroker", "order_state", "produce_with", "secure_broker", "state_changes"]

_HOST = "127.0.0.1"


@dataclass(frozen=True)
class SecureBroker:
    """``sasl``: the ORDERSTATE_KAFKA_* of SASL_PLAINTEXT with SCRAM-SHA-512; ``sasl_ssl``:
    the same over TLS; ``ssl``: the bootstrap address of the mutual-TLS listener."""

    sasl: dict[str, str]
    sasl_ssl: dict[str, str]
    ssl: str
    authority: Authority


class BrokerUnavailable(RuntimeError):
    pass


def _script(*args: str) -> str:
    result = subprocess.run(
        [str(LOCAL / "kafka-sasl.sh"), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BrokerUnavailable(
            f"deploy/local/kafka-sasl.sh {' '.join(args)} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((_HOST, port), timeout=1):
        return True
    return False


def _lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _local_dir() -> Path:
    return Path(os.environ.get("ORDERSTATE_LOCAL_DIR", LOCAL.parent.parent / ".local"))


@contextlib.contextmanager
def secure_broker() -> Iterator[SecureBroker]:
    sasl = _lines(_script("env"))
    sasl_port = int(sasl["ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS"].rpartition(":")[2])
    ssl_port = int(os.environ.get("ORDERSTATE_LOCAL_KAFKA_SSL_PORT", "19195"))
    tls_dir = _local_dir().resolve() / "kafka-sasl" / "tls"
    started = False
    if _answers(sasl_port):
        try:
            sasl_ssl = _lines(_script("tls-env"))
        except BrokerUnavailable as exc:
            raise BrokerUnavailable(
                f"a broker answers on {_HOST}:{sasl_port} without the TLS listeners these "
                "tests need; stop it (deploy/local/kafka-sasl.sh stop) and run them again"
            ) from exc
        authority = Authority(tls_dir)
    else:
        subprocess.run([str(LOCAL / "kafka-jars.sh")], check=True, capture_output=True)
        authority = make_authority(tls_dir)
        _script("start")
        started = True
        sasl_ssl = _lines(_script("tls-env"))
    try:
        yield SecureBroker(sasl, sasl_ssl, f"{_HOST}:{ssl_port}", authority)
    finally:
        if started:
            _script("stop")


async def produce_with(settings: Settings, topic: str, records: list[Any]) -> None:
    """Produce through the security settings of ``settings``."""
    producer = AIOKafkaProducer(
        **kafka_options(settings, role="test-producer"), enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, key=key, value=value, headers=headers)
    finally:
        await producer.stop()


async def state_changes(settings: Settings, count: int) -> list[dict[str, Any]]:
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


async def order_state(settings: Settings, order_id: str) -> str | None:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        found: str | None = await conn.fetchval(
            "SELECT state FROM orders WHERE order_id = $1", order_id
        )
    finally:
        await conn.close()
    return found
