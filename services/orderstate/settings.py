"""All configuration, read once from ``ORDERSTATE_*`` environment variables.

``Settings()`` is built in the CLI and passed down; no module reads the
environment on its own. Every field has a description: the README's
configuration table is checked against this model by a test.
"""

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderstate.events.topics import TopicRole

__all__ = ["MIN_KEY_BYTES", "IPNetwork", "Settings", "trusted_networks", "zone_named"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEV_DATABASE_URL = "postgresql://orderstate:orderstate@127.0.0.1:15432/orderstate"
_DEV_PEPPER = "dev-only-api-key-pepper-not-for-production"
_DEV_TOKEN_SECRET = "dev-only-token-secret-not-for-production"  # noqa: S105 -- a placeholder production refuses


# RFC 7518 3.2: an HS256 key shorter than the hash output weakens the signature; the pepper is
# an HMAC-SHA256 key as well.
MIN_KEY_BYTES = 32
# The longest retention: "keep it for good" in practice. A longer one would put the clean-up's
# cut-off before the year 1, which Python's datetime cannot hold (the relay and the monitor
# would fail at every start).
_CENTURY_DAYS = 36_500
_CENTURY_HOURS = _CENTURY_DAYS * 24


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone of this name; ValueError names the bad one."""
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):
        # OSError: a folder of the database such as 'Europe'.
        raise ValueError(f"{name!r} is not an IANA time zone, e.g. 'Europe/Berlin'") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERSTATE_", env_ignore_empty=True, extra="ignore", frozen=True
    )

    environment: Literal["dev", "production"] = Field(
        "dev",
        description="'production' refuses development defaults such as the local database "
        "password and logs JSON.",
    )
    database_url: SecretStr = Field(
        SecretStr(_DEV_DATABASE_URL),
        description="PostgreSQL URL (libpq form). The default is the native dev server of "
        "`make services-up`.",
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="Connections per process.")
    database_statement_cache_size: int = Field(
        100,
        ge=0,
        le=10_000,
        description="Prepared statements cached per connection; 0 behind PgBouncer in "
        "transaction mode (older than 1.21, or without max_prepared_statements).",
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", description="Comma-separated Kafka bootstrap servers."
    )
    kafka_client_id: str = Field("orderstate", description="Kafka client.id prefix.")
    kafka_startup_wait_s: float = Field(
        60.0,
        ge=0,
        description="Seconds a worker or relay waits at start-up for Kafka brokers that do not "
        "answer (a broker restarting) before it exits with code 2; one log line says it waits.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to Kafka (SASL_SSL for MSK, Confluent, Strimzi)."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism; required with a SASL_* protocol."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle to verify the brokers (system CAs when unset)."
    )
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate (mutual TLS).")
    kafka_ssl_keyfile: Path | None = Field(None, description="Client private key (mutual TLS).")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of the client private key, if encrypted."
    )
    consumer_group: str = Field(
        "orderstate-projector", description="Consumer group of the projector workers."
    )
    kafka_session_timeout_ms: int = Field(
        10_000,
        ge=6_000,
        le=300_000,
        description="A worker that stops heartbeating loses its partitions after this long "
        "(the broker's group.min.session.timeout.ms is 6 s by default).",
    )
    kafka_heartbeat_interval_ms: int = Field(
        2_000, ge=100, description="How often a worker heartbeats; a third of the session or less."
    )
    kafka_group_instance_id: str | None = Field(
        None,
        description="Static group membership: a worker restarted with the same id within the "
        "session timeout gets its partitions back without a rebalance. Only for stable "
        "identities (a StatefulSet's pod name); unset for a Deployment.",
    )
    kafka_max_partition_fetch_bytes: int = Field(
        131_072,
        ge=1_024,
        le=10_485_760,
        description="At most this much of one partition per fetch. A worker hands out what one "
        "fetch brought for a partition before the next, so on a backlog a large value lets one "
        "partition wait while another drains (the client's default, 1 MiB, held a partition "
        "still for 10 s after a worker kill).",
    )
    kafka_fetch_min_bytes: int = Field(
        1,
        ge=1,
        le=1_048_576,
        description="The broker answers a worker's fetch once it has this many bytes for it, or "
        "after ORDERSTATE_KAFKA_FETCH_MAX_WAIT_MS. 1 answers at the first record: the "
        "shortest wait, and the most fetches at a low rate.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        500,
        ge=0,
        le=10_000,
        description="How long the broker holds a worker's fetch that has fewer than "
        "ORDERSTATE_KAFKA_FETCH_MIN_BYTES bytes to return.",
    )
    topic_orders: str = Field("shop.orders.v1", description="Inbound order events topic.")
    topic_shipments: str = Field("shop.shipments.v1", description="Inbound shipment events topic.")
    topic_order_events: str = Field(
        "orderstate.order-events.v1", description="Outbound order events topic."
    )
    topic_rejected: str = Field("orderstate.rejected.v1", description="Outbound rejections topic.")
    topic_alerts: str = Field(
        "orderstate.order-alerts.v1", description="The order monitor's alerts topic."
    )
    topic_partitions: int = Field(
        6, ge=1, le=1000, description="Partitions used by `orderstate topics create`."
    )

    batch_max_events: int = Field(
        500, ge=1, le=10_000, description="The worker applies at most this many events per batch."
    )
    batch_max_wait_ms: int = Field(
        50,
        ge=0,
        le=10_000,
        description="A batch gathers while the previous one is applied and is applied as soon "
        "as the worker is free, or at the latest this many milliseconds after its first record.",
    )
    max_payload_bytes: int = Field(
        1024 * 1024, ge=1024, description="Inbound record values above this are malformed."
    )
    max_event_bytes: int = Field(
        1_000_000,
        ge=64 * 1024,
        description="A change that would make the order's outbound event (it carries the whole "
        "order) larger than this is rejected with order_too_large; keep it below the broker's "
        "message.max.bytes.",
    )
    merge_marker_wait_ms: int = Field(
        20,
        ge=0,
        le=10_000,
        description="How long records wait for a silent twin partition before the worker "
        "writes a merge marker to it (docs/reliability.md); a latency floor when one inbound "
        "topic is quiet.",
    )
    policy_file: Path | None = Field(
        None, description="JSON or YAML file with per-shop transition tables (docs/lifecycle.md)."
    )

    outbox_retention_hours: int = Field(
        24,
        ge=1,
        le=_CENTURY_HOURS,
        description="Published outbox rows are deleted after this many hours.",
    )
    processed_events_retention_days: int = Field(
        30,
        ge=1,
        le=_CENTURY_DAYS,
        description="How long an applied event's id is remembered: a redelivery of the same "
        "(source, id) within this window is recognised and skipped; a later one is decided "
        "again (docs/reliability.md).",
    )
    idempotency_retention_hours: int = Field(
        24,
        ge=1,
        le=_CENTURY_HOURS,
        description="How long a REST response is kept for replay under its Idempotency-Key.",
    )
    rejected_events_retention_days: int = Field(
        30,
        ge=1,
        le=_CENTURY_DAYS,
        description="Rejected and malformed events are kept this many days.",
    )
    relay_batch_size: int = Field(
        500, ge=1, le=10_000, description="Outbox rows the relay publishes per transaction."
    )
    relay_batch_bytes: int = Field(
        256 * 1024,
        ge=16 * 1024,
        le=8 * 1024 * 1024,
        description="Largest record batch the relay's producer builds per partition, in bytes; "
        "lowered at start to the smallest max.message.bytes of the topics it publishes to.",
    )
    relay_poll_interval_ms: int = Field(
        1000,
        ge=10,
        description="The relay wakes on NOTIFY; this poll is the fallback for a lost one.",
    )
    watchdog_timeout_s: float = Field(
        120.0,
        gt=0,
        description="The worker exits non-zero after this long without progress while lagging.",
    )

    monitor_group: str = Field(
        "orderstate-monitor",
        description="Consumer group and faust app id of the order monitor; its changelog "
        "topics are named after it (<group>-monitor-orders-changelog, "
        "<group>-monitor-counts-changelog).",
    )
    monitor_batch_max_events: int = Field(
        1000,
        ge=1,
        le=10_000,
        description="The monitor processes at most this many records per batch.",
    )
    monitor_batch_max_wait_ms: int = Field(
        200,
        ge=1,
        le=10_000,
        description="A monitor batch closes this many milliseconds after it began, or when full.",
    )
    monitor_max_partition_fetch_bytes: int = Field(
        4_194_304,
        ge=65_536,
        le=67_108_864,
        description="At most this much of one partition per fetch of the monitor. faust-streaming "
        "holds a fetch of caught-up partitions for 1.5 s, and no other partition on that broker "
        "is fetched meanwhile, so on a backlog each partition yields one page per cycle; with "
        "faust's default, 1 MiB, the monitor read about 5,800 records/s however many processes "
        "ran (docs/monitor.md, Throughput).",
    )
    monitor_tick_ms: int = Field(
        1000,
        ge=10,
        le=60_000,
        description="How often the monitor looks for deadlines that passed while no event came.",
    )
    monitor_parked_check_ms: int = Field(
        30_000,
        ge=10,
        le=3_600_000,
        description="How often the monitor reads parked_events for parked_too_long alerts.",
    )
    monitor_count_hours: int = Field(
        24,
        ge=1,
        le=168,
        description="Hours of live counts per shop the monitor keeps and exports (one gauge "
        "series per shop, count and hour).",
    )
    alert_retention_days: int = Field(
        30,
        ge=1,
        le=_CENTURY_DAYS,
        description="Cleared alerts are deleted from order_alerts after this many days.",
    )

    api_host: str = Field(
        "127.0.0.1", description="Address the REST API binds to (0.0.0.0 in a container)."
    )
    api_port: int = Field(8000, ge=1, le=65535, description="Port of the REST API.")
    api_key_pepper: SecretStr = Field(
        SecretStr(_DEV_PEPPER),
        description="Server-side secret mixed into API-key hashes, at least 32 bytes (e.g. "
        "`openssl rand -hex 32`); refused at its default in production.",
    )
    token_secret: SecretStr = Field(
        SecretStr(_DEV_TOKEN_SECRET),
        description="Key that signs bearer tokens of POST /v2/token, at least 32 bytes; refused "
        "at its default in production.",
    )
    token_ttl_s: int = Field(3600, ge=60, le=86_400, description="Bearer token lifetime.")
    api_shutdown_timeout_s: int = Field(
        20,
        ge=1,
        le=600,
        description="After SIGTERM, in-flight REST requests get this long to finish; the pod's "
        "grace period must cover it plus the preStop sleep.",
    )
    api_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Request bodies above this are answered with 413."
    )
    api_unknown_fields: Literal["ignore", "refuse"] = Field(
        "ignore",
        description="Request body fields the REST API does not know: 'ignore' applies the "
        "request and names them in X-Orderstate-Ignored-Fields; 'refuse' answers 422 naming "
        "them. An API key may override it (`orderstate apikey set`).",
    )
    api_time_zone: str = Field(
        "UTC",
        description="IANA time zone naive datetimes in REST requests are read in (Seven "
        "Senders clients send shop-local times without an offset); never the server's zone. "
        "An API key may name its own.",
    )
    api_trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDR networks of the reverse proxies (the "
        "Ingress controller's pods) whose X-Forwarded-Proto, X-Forwarded-Host and "
        "X-Forwarded-For the REST API believes; empty: none, every request is taken as it "
        "arrives.",
    )
    api_auth_failures_per_minute: int = Field(
        30,
        ge=0,
        le=100_000,
        description="Failed authentications a client address, and separately an API key id, "
        "may have within a minute; beyond that the REST API answers 429 with Retry-After "
        "without checking the credentials. Counted per api process; 0 turns it off.",
    )
    carriers_file: Path | None = Field(
        None,
        description="JSON or YAML list of carriers (code, name, countries) served by GET "
        "/v2/carriers instead of the shipped list.",
    )

    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="The event loop of the long-running commands (worker, relay, monitor, api, "
        "run): uvloop (libuv), or Python's own asyncio loop.",
    )

    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="'auto': console on a terminal in dev, JSON otherwise."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged."
    )

    def topic_name(self, role: TopicRole) -> str:
        return {
            TopicRole.ORDERS_IN: self.topic_orders,
            TopicRole.SHIPMENTS_IN: self.topic_shipments,
            TopicRole.ORDER_EVENTS_OUT: self.topic_order_events,
            TopicRole.REJECTED_OUT: self.topic_rejected,
            TopicRole.ALERTS_OUT: self.topic_alerts,
        }[role]

    @model_validator(mode="after")
    def _no_dev_defaults_in_production(self) -> "Settings":
        if self.environment != "production":
            return self
        defaults = {
            "ORDERSTATE_DATABASE_URL": (self.database_url, _DEV_DATABASE_URL),
            "ORDERSTATE_API_KEY_PEPPER": (self.api_key_pepper, _DEV_PEPPER),
            "ORDERSTATE_TOKEN_SECRET": (self.token_secret, _DEV_TOKEN_SECRET),
        }
        unset = [name for name, (value, dev) in defaults.items() if value.get_secret_value() == dev]
        if unset:
            raise ValueError(
                f"{', '.join(unset)} must be set in production; the defaults are for development"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, url: SecretStr) -> SecretStr:
        _check_database_url(url.get_secret_value())
        return url

    @field_validator("api_trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        trusted_networks(value)
        return value

    @property
    def api_trusted_networks(self) -> list[IPNetwork]:
        return trusted_networks(self.api_trusted_proxies)

    @field_validator("api_time_zone")
    @classmethod
    def _known_time_zone(cls, name: str) -> str:
        zone_named(name)
        return name

    @model_validator(mode="after")
    def _keys_are_long_enough(self) -> "Settings":
        short = [
            name
            for name, key in (
                ("ORDERSTATE_API_KEY_PEPPER", self.api_key_pepper),
                ("ORDERSTATE_TOKEN_SECRET", self.token_secret),
            )
            if len(key.get_secret_value().encode()) < MIN_KEY_BYTES
        ]
        if short:
            raise ValueError(
                f"{' and '.join(short)} must be at least {MIN_KEY_BYTES} bytes "
                "(e.g. `openssl rand -hex 32`)"
            )
        return self

    @model_validator(mode="after")
    def _tls_files_need_tls(self) -> "Settings":
        files = {
            "ORDERSTATE_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "ORDERSTATE_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "ORDERSTATE_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        given = [name for name, value in files.items() if value is not None]
        if given and self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(
                f"{', '.join(given)} set, but ORDERSTATE_KAFKA_SECURITY_PROTOCOL="
                f"{self.kafka_security_protocol} does not use TLS; use SSL or SASL_SSL"
            )
        return self

    @model_validator(mode="after")
    def _heartbeats_within_the_session(self) -> "Settings":
        # Neither aiokafka nor the broker checks it: a worker that heartbeats less often than
        # its session times out is expelled from the group again and again.
        if self.kafka_heartbeat_interval_ms >= self.kafka_session_timeout_ms:
            raise ValueError(
                f"ORDERSTATE_KAFKA_HEARTBEAT_INTERVAL_MS={self.kafka_heartbeat_interval_ms} must "
                "be below ORDERSTATE_KAFKA_SESSION_TIMEOUT_MS="
                f"{self.kafka_session_timeout_ms} (a third of it or less is usual)"
            )
        return self

    @model_validator(mode="after")
    def _sasl_is_complete(self) -> "Settings":
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"ORDERSTATE_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "ORDERSTATE_KAFKA_SASL_MECHANISM, _USERNAME and _PASSWORD"
            )
        return self


def trusted_networks(text: str) -> list[IPNetwork]:
    """The networks of a comma-separated list of addresses and CIDR networks; ValueError names
    an entry that is neither."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)"
            ) from None
    return networks


def _check_database_url(url: str) -> None:
    """Refuse a URL asyncpg would fail on with a message quoting part of it: an unencoded
    '/', ':' or '@' in a password makes the rest of it read as a host or a port."""
    hint = (
        "ORDERSTATE_DATABASE_URL is not a PostgreSQL URL of the form "
        "postgresql://user:password@host:5432/database"
    )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(hint) from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"{hint}: it must start with postgresql://")
    hosts = parts.netloc.rpartition("@")[2]
    for host in hosts.split(",") if hosts else []:
        port = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" in port and not port.rpartition(":")[2].isdigit():
            raise ValueError(
                f"{hint}: a port is not a number; percent-encode '/', ':', '@', '?' and '#' "
                "in the user name and password (e.g. '/' as %2F)"
            )
