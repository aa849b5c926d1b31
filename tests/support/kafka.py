"""Unique topics per test on the real broker."""

import uuid
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


@dataclass(frozen=True)
class TopicNames:
    orders: str
    shipments: str
    order_events: str
    rejected: str
    alerts: str

    @property
    def inbound(self) -> list[str]:
        return [self.orders, self.shipments]

    @property
    def all(self) -> list[str]:
        return [self.orders, self.shipments, self.order_events, self.rejected, self.alerts]


def unique_topics() -> TopicNames:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return TopicNames(
        orders=f"{prefix}.shop.orders.v1",
        shipments=f"{prefix}.shop.shipments.v1",
        order_events=f"{prefix}.orderstate.order-events.v1",
        rejected=f"{prefix}.orderstate.rejected.v1",
        alerts=f"{prefix}.orderstate.order-alerts.v1",
    )


# Partitions of each topic the ``topics`` fixture creates.
PARTITIONS = 6


async def create_topics(bootstrap: str, names: list[str], partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str], *, prefix: str | None = None) -> None:
    """The named topics, and every topic whose name starts with ``prefix`` (the changelog
    topics faust made for a test's monitor)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if prefix is not None:
            names = [*names, *(t for t in await admin.list_topics() if t.startswith(prefix))]
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def limit_topic(bootstrap: str, topic: str, max_bytes: int) -> None:
    """Set the topic's max.message.bytes: the largest record batch the broker accepts on it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(max_bytes)})]
        )
    finally:
        await admin.close()
