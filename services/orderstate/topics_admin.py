"""``orderstate topics create``: orderstate's five topics with the configured partition count,
and the monitor's changelog topics with as many partitions as the order events topic."""

import contextlib

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from orderstate.events.topics import TOPICS
from orderstate.kafka_client import kafka_options
from orderstate.monitor.changelogs import changelog_topics, leader_topic
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client

__all__ = ["INBOUND_CONFIG", "TopicMismatchError", "create_topics"]

log = structlog.get_logger("orderstate.topics")


class TopicMismatchError(RuntimeError):
    pass


# The inbound topics are the source of truth: `orderstate rebuild` replays them from their
# beginning, so nothing may delete from them by age or size (docs/rebuild.md, "Retention").
INBOUND_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


async def create_topics(settings: Settings, *, partitions: int, replication: int = 1) -> list[str]:
    """Create missing topics; check that existing ones have the same partition count."""
    names = [settings.topic_name(role) for role in TOPICS]
    inbound = {settings.topic_orders, settings.topic_shipments}
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="admin"))
    # A one-shot command: it says at once that Kafka is out of reach instead of waiting.
    await start_kafka_client(admin, settings, "topic set-up", wait_s=0, quiet=True)
    created = []
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            # Another process may win the race; the partition check below still runs.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            n,
                            num_partitions=partitions,
                            replication_factor=replication,
                            topic_configs=INBOUND_CONFIG if n in inbound else {},
                        )
                        for n in missing
                    ]
                )
            created = missing
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    # Keys are partitioned the same way in both inbound topics only if their counts match.
    if len({counts[n] for n in inbound}) != 1:
        raise TopicMismatchError(
            f"inbound topics have different partition counts: { {n: counts[n] for n in inbound} }"
        )
    for name in names:
        log.info("topic", name=name, partitions=counts[name], created=name in created)
    changelogs = await _create_changelogs(
        settings, counts[settings.topic_order_events], replication, existing
    )
    return created + changelogs


async def _create_changelogs(
    settings: Settings, partitions: int, replication: int, existing: set[str]
) -> list[str]:
    """The monitor's changelog topics, co-partitioned with the order events it reads, and
    faust's leader topic of one partition."""
    wanted = {
        name: (partitions, config)
        for name, config in changelog_topics(
            settings.monitor_group, settings.monitor_count_hours
        ).items()
    }
    wanted[leader_topic(settings.monitor_group)] = (1, {})
    missing = [n for n in wanted if n not in existing]
    if not missing:
        return []
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="admin"))
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        n,
                        num_partitions=wanted[n][0],
                        replication_factor=replication,
                        topic_configs=wanted[n][1],
                    )
                    for n in missing
                ]
            )
    finally:
        await admin.close()
    for name in missing:
        log.info("topic", name=name, partitions=wanted[name][0], created=True)
    return missing
