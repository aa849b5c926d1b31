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

from orderstate.kafka_client import ssl_context
from orderstate.settings import Settings

__all__ = ["create_app"]


def _credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
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
