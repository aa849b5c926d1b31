"""``orderstate topics create``: orderstate's five topics with the configured partition count,
and the monitor's changelog topics with as many partitions as the order events topic."""

import asyncio
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from orderstate.events.topics import TOPICS
from orderstate.kafka_client import kafka_options
from orderstate.monitor.changelogs import changelog_topics, leader_topic
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client

__all__ = ["INBOUND_CONFIG", "TopicMismatchError", "create_topics"]

log = structlog.get_logger("orderstate.topics")


class TopicMismatchError(RuntimeError):
    pass


# A topic just created has no partitions in the broker's metadata for a moment, longer on a
# busy machine: its count is read again until it shows, for at most this long.
METADATA_WAIT_S = 60.0


# The inbound topics are the source of truth: `orderstate rebuild` replays them from their
# beginning, so nothing may delete from them by age or size (docs/rebuild.md, "Retention").
INBOUND_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


async def create_topics(settings: Settings, *, partitions: int, replication: int = 1) -> list[str]:
    """Create missing topics; check, before creating any, that existing ones have the partition
    count asked for (TopicMismatchError names those that do not: nothing is changed)."""
    names = [settings.topic_name(role) for role in TOPICS]
    inbound = {settings.topic_orders, settings.topic_shipments}
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="admin"))
    # A one-shot command: it says at once that Kafka is out of reach instead of waiting.
    await start_kafka_client(admin, settings, "topic set-up", wait_s=0, quiet=True)
    created = []
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        present = [n for n in names if n in existing]
        _same_partitions(await _partition_counts(admin, present) if present else {}, partitions)
        if missing:
            await _create(
                admin,
                [
                    NewTopic(
                        n,
                        num_partitions=partitions,
                        replication_factor=replication,
                        topic_configs=INBOUND_CONFIG if n in inbound else {},
                    )
                    for n in missing
                ],
            )
            created = missing
        counts = await _partition_counts(admin, names)
    finally:
        await admin.close()
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


def _same_partitions(counts: dict[str, int], partitions: int) -> None:
    # Kafka can add partitions to a topic but not take them away, and adding them moves keys
    # to other partitions (an order's events would no longer be in one partition, in order):
    # orderstate never changes an existing topic, so a different count is an error, not a
    # count the command quietly keeps.
    other = {name: n for name, n in counts.items() if n != partitions}
    if other:
        have = ", ".join(f"{name} has {n}" for name, n in sorted(other.items()))
        raise TopicMismatchError(
            f"{partitions} partitions asked for (--partitions or ORDERSTATE_TOPIC_PARTITIONS), "
            f"but {have}; existing topics are never changed (adding partitions moves keys, "
            "README 'How scaling works'): ask for the count they have, or use new topics"
        )


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
        await _create(
            admin,
            [
                NewTopic(
                    n,
                    num_partitions=wanted[n][0],
                    replication_factor=replication,
                    topic_configs=wanted[n][1],
                )
                for n in missing
            ],
        )
    finally:
        await admin.close()
    for name in missing:
        log.info("topic", name=name, partitions=wanted[name][0], created=True)
    return missing


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    """Create ``topics``; the broker answers per topic and aiokafka raises for none of them.
    A topic another process created meanwhile is fine: the partition check still runs."""
    response: Any = await admin.create_topics(topics)
    for topic, code, *message in response.topic_errors:
        if code and for_code(code) is not TopicAlreadyExistsError:
            detail = message[0] if message and message[0] else for_code(code).__name__
            raise TopicMismatchError(f"Kafka refused to create topic {topic}: {detail}")


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Each topic's partition count, once the broker's metadata shows every one of them."""
    counts: dict[str, int] = {}
    try:
        async with asyncio.timeout(METADATA_WAIT_S):
            while True:
                described = await admin.describe_topics(names)
                counts = {d["topic"]: len(d["partitions"]) for d in described}
                if all(counts.get(n) for n in names):
                    return counts
                await asyncio.sleep(0.2)
    except TimeoutError:
        unknown = sorted(n for n in names if not counts.get(n))
        raise TopicMismatchError(
            f"Kafka's metadata shows no partitions for {', '.join(unknown)} "
            f"after {METADATA_WAIT_S:.0f} s"
        ) from None
