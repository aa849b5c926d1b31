"""All configuration, read once from ``ORDERSTATE_*`` environment variables.

``Settings()`` is built in the CLI and passed down; no module reads the
environment on its own. Every field has a description: the README's
configuration table is checked against this model by a test.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderstate.events.topics import TopicRole

__all__ = ["Settings"]

_DEV_DATABASE_URL = "postgresql://orderstate:orderstate@127.0.0.1:15432/orderstate"


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

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", description="Comma-separated Kafka bootstrap servers."
    )
    kafka_client_id: str = Field("orderstate", description="Kafka client.id prefix.")
    consumer_group: str = Field(
        "orderstate-projector", description="Consumer group of the projector workers."
    )
    topic_orders: str = Field("shop.orders.v1", description="Inbound order events topic.")
    topic_shipments: str = Field("shop.shipments.v1", description="Inbound shipment events topic.")
    topic_order_events: str = Field(
        "orderstate.order-events.v1", description="Outbound order events topic."
    )
    topic_rejected: str = Field("orderstate.rejected.v1", description="Outbound rejections topic.")
    topic_partitions: int = Field(
        6, ge=1, le=1000, description="Partitions used by `orderstate topics create`."
    )

    batch_max_events: int = Field(
        500, ge=1, le=10_000, description="The worker applies at most this many events per batch."
    )
    batch_max_wait_ms: int = Field(
        50, ge=0, le=10_000, description="...or whatever arrived within this many milliseconds."
    )
    max_payload_bytes: int = Field(
        1024 * 1024, ge=1024, description="Inbound record values above this are malformed."
    )
    policy_file: Path | None = Field(
        None, description="JSON or YAML file with per-shop transition tables (see docs)."
    )

    outbox_retention_hours: int = Field(
        24, ge=1, description="Published outbox rows are deleted after this many hours."
    )
    relay_batch_size: int = Field(
        500, ge=1, le=10_000, description="Outbox rows the relay publishes per transaction."
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
        }[role]

    @model_validator(mode="after")
    def _no_dev_defaults_in_production(self) -> "Settings":
        if (
            self.environment == "production"
            and self.database_url.get_secret_value() == _DEV_DATABASE_URL
        ):
            raise ValueError(
                "ORDERSTATE_DATABASE_URL must be set in production; the default is the local "
                "development server"
            )
        return self
