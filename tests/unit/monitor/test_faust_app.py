"""The monitor's faust app talks to Kafka the way every orderstate client does."""

import faust

from orderstate.monitor.faust_app import create_app
from orderstate.settings import Settings


def _app(**settings: object) -> faust.App:
    return create_app(Settings(**settings), partitions=6, replication=3)  # type: ignore[arg-type]


def test_plaintext_has_no_credentials_and_the_settings_it_relies_on() -> None:
    app = _app(kafka_bootstrap_servers="k1:9092,k2:9092", monitor_group="mon")
    conf = app.conf
    assert conf.id == "mon"
    assert [str(b) for b in conf.broker] == ["kafka://k1:9092", "kafka://k2:9092"]
    assert conf.broker_credentials is None
    assert str(conf.processing_guarantee.value) == "at_least_once"
    assert str(conf.store) == "memory:"
    assert conf.table_standby_replicas == 0
    assert conf.stream_wait_empty is False
    assert conf.web_enabled is False
    assert conf.consumer_auto_offset_reset == "earliest"
    assert (conf.topic_partitions, conf.topic_replication_factor) == (6, 3)


def test_the_fetch_page_per_partition_is_ours_not_fausts() -> None:
    # faust's own default (1 MiB) held the monitor to ~5,800 records/s on a backlog; `make
    # bench`, row (e), measures what the larger page gives.
    assert _app().conf.consumer_max_fetch_size == 4_194_304
    custom = _app(monitor_max_partition_fetch_bytes=262_144)
    assert custom.conf.consumer_max_fetch_size == 262_144


def test_sasl_over_tls_uses_the_same_settings_as_the_other_clients() -> None:
    app = _app(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="orderstate",
        kafka_sasl_password="secret",
    )
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("orderstate", "secret")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is not None


def test_tls_alone_is_ssl_credentials() -> None:
    app = _app(kafka_security_protocol="SSL")
    assert isinstance(app.conf.broker_credentials, faust.SSLCredentials)
