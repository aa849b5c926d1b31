"""What the inbound topics hold: where each partition starts and ends, and whether the topics
still hold their beginning, which a replay needs (docs/rebuild.md, "Retention")."""

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from orderstate.startup import StartupError, start_kafka_client

__all__ = ["InboundLog", "read_inbound_log", "retention_warnings"]

# The topic settings that decide whether a topic keeps its beginning.
_RETENTION_CONFIGS = ("cleanup.policy", "retention.ms", "retention.bytes")


@dataclass(frozen=True, slots=True)
class InboundLog:
    """The inbound partitions, each with its first offset (the log start) and its end (the
    last stable offset: what a read_committed consumer can read now)."""

    starts: dict[TopicPartition, int]
    ends: dict[TopicPartition, int]

    @property
    def lost_beginning(self) -> dict[TopicPartition, int]:
        """Partitions whose first records are gone (retention, or records deleted by hand)."""
        return {tp: first for tp, first in sorted(self.starts.items()) if first > 0}

    @property
    def records(self) -> int:
        """Offsets to replay (merge markers and transaction markers included)."""
        return sum(self.ends.values())


async def read_inbound_log(settings: Settings) -> InboundLog:
    topics = [settings.topic_orders, settings.topic_shipments]
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="rebuild"))
    await start_kafka_client(admin, settings, "rebuild", wait_s=0, quiet=True)
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    counts = {d["topic"]: len(d["partitions"]) for d in described if not d["error_code"]}
    missing = [t for t in topics if not counts.get(t)]
    if missing:
        raise StartupError(
            f"topic(s) {', '.join(missing)} do not exist at "
            f"{settings.kafka_bootstrap_servers}: there is nothing to replay"
        )
    partitions = [TopicPartition(t, p) for t in topics for p in range(counts[t])]
    consumer: Any = AIOKafkaConsumer(
        **kafka_options(settings, role="rebuild"),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await start_kafka_client(consumer, settings, "rebuild", wait_s=0, quiet=True)
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return InboundLog(dict(starts), dict(ends))


async def retention_warnings(settings: Settings) -> list[str]:
    """What in the inbound topics' configuration will lose their beginning some day: a
    finite retention, or compaction (which keeps the log start at 0 but drops older records
    of a key, so the start-offset check cannot see it)."""
    topics = (settings.topic_orders, settings.topic_shipments)
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="rebuild"))
    await start_kafka_client(admin, settings, "rebuild", wait_s=0, quiet=True)
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        )
    finally:
        await admin.close()
    warnings = []
    for topic, configs in _topic_configs(responses).items():
        if isinstance(configs, int):
            warnings.append(
                f"{topic}: its retention settings cannot be read (Kafka error code {configs})"
            )
            continue
        policy = configs.get("cleanup.policy", "delete")
        if "compact" in policy:
            warnings.append(
                f"{topic} has cleanup.policy={policy}: compaction drops earlier records of a "
                "key, and a replay without them decides differently; use cleanup.policy=delete"
            )
        if "delete" in policy and configs.get("retention.ms", "-1") != "-1":
            warnings.append(
                f"{topic} has retention.ms={configs['retention.ms']}: its beginning is deleted "
                "after that, and a rebuild is refused from then on; set retention.ms=-1"
            )
        if "delete" in policy and configs.get("retention.bytes", "-1") != "-1":
            warnings.append(
                f"{topic} has retention.bytes={configs['retention.bytes']}: its beginning is "
                "deleted past that size; set retention.bytes=-1"
            )
    return warnings


def _topic_configs(responses: list[Any]) -> dict[str, dict[str, str] | int]:
    """Topic name to its retention settings (or the error code the broker answered for it),
    from DescribeConfigs responses: aiokafka gives the protocol's tuples, resources of (error
    code, message, type, name, entries), entries starting with (name, value)."""
    found: dict[str, dict[str, str] | int] = {}
    for response in responses:
        for error, _, _, name, entries in (r[:5] for r in response.resources):
            found[name] = error or {
                entry[0]: entry[1] for entry in entries if entry[0] in _RETENTION_CONFIGS
            }
    return found
