"""The faust-streaming App of the monitor, configured from orderstate's settings.

Every setting orderstate relies on is set here, explicitly, rather than left to faust's
defaults (README, "The order monitor"):

- ``processing_guarantee="at_least_once"``: faust's exactly-once mode still delivers
  duplicates (faust-streaming #517), so the monitor does not pretend; it is idempotent instead
  (per-order sequence numbers, alert ids derived from the alert).
- ``store="memory://"`` with changelog topics: the tables are rebuilt from their changelogs
  when partitions are assigned, so a pod needs no disk (RocksDB would need a volume and a
  native package the image does not carry).
- ``table_standby_replicas=0``: with the memory store a standby's rows would share the active
  rows' dictionary.
- ``web_enabled=False``: /healthz, /readyz and /metrics are orderstate's own ops port.
- ``stream_wait_empty=False``: on stop faust would wait for every record it handed over to be
  acknowledged; the monitor acknowledges a batch only once its output is durable, so records
  of a batch not yet processed stay unacknowledged, are not committed, and are read again by
  the next owner. Waiting for them would only hold up the shutdown.
- ``consumer_auto_offset_reset="earliest"``: a new monitor starts from the beginning of the
  retained order events, so it knows every order still on the topic.
- The Kafka connection (bootstrap servers, TLS, SASL) is the one every orderstate client uses
  (``kafka_client``), and the session and heartbeat times are the worker's.
"""

import tempfile
from pathlib import Path
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types.auth import CredentialsT

from orderstate.kafka_client import kafka_options, ssl_context
from orderstate.settings import Settings
from orderstate.startup import StartupError

__all__ = ["create_app", "input_topics"]


def _credentials(settings: Settings) -> CredentialsT | None:
    protocol = settings.kafka_security_protocol
    context = ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password is not None else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(settings: Settings, *, partitions: int, replication: int) -> faust.App:
    """The App; the caller declares its topics, tables, agent and timers."""
    options: dict[str, Any] = {
        "broker": [f"kafka://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(",")],
        "broker_client_id": f"{settings.kafka_client_id}-monitor",
        "broker_session_timeout": settings.kafka_session_timeout_ms / 1000,
        "broker_heartbeat_interval": settings.kafka_heartbeat_interval_ms / 1000,
        "processing_guarantee": "at_least_once",
        "store": "memory://",
        "table_standby_replicas": 0,
        "topic_partitions": partitions,
        "topic_replication_factor": replication,
        "key_serializer": "json",
        "value_serializer": "json",
        "consumer_auto_offset_reset": "earliest",
        "consumer_max_fetch_size": settings.monitor_max_partition_fetch_bytes,
        "producer_acks": -1,
        "web_enabled": False,
        "stream_wait_empty": False,
        "autodiscover": False,
        # faust wants a data directory even for the memory store; /tmp is the one writable
        # path of the container image.
        "datadir": Path(tempfile.gettempdir()) / f"orderstate-monitor-{settings.monitor_group}",
    }
    credentials = _credentials(settings)
    if credentials is not None:
        options["broker_credentials"] = credentials
    return faust.App(settings.monitor_group, **options)


async def input_topics(settings: Settings) -> tuple[int, int]:
    """The order events topic's partition count and replication factor, which the
    changelog topics follow; the rejections topic must have the same count (one agent
    reads both, partition by partition)."""
    names = [
        settings.topic_order_events,
        settings.topic_rejected,
        settings.topic_alerts,
    ]
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="monitor-admin"))
    try:
        await admin.start()
        described = {d["topic"]: d for d in await admin.describe_topics(names)}
    except KafkaError as exc:
        raise StartupError(f"the monitor cannot reach Kafka: {exc!r}") from exc
    finally:
        await admin.close()
    missing = [n for n in names if not described.get(n, {}).get("partitions")]
    if missing:
        raise StartupError(
            f"topics {missing} do not exist; create them with `orderstate topics create`"
        )
    counts = {n: len(described[n]["partitions"]) for n in names}
    events, rejected = names[0], names[1]
    if counts[events] != counts[rejected]:
        raise StartupError(
            f"{events} has {counts[events]} partitions and {rejected} {counts[rejected]}: "
            "the monitor reads both partition by partition and needs the same count"
        )
    replication = len(described[events]["partitions"][0]["replicas"])
    return counts[events], replication
