"""`orderstate topics create` makes the alerts topic and the topics faust keeps for the monitor
(its changelogs and its leader topic), for users without the Create ACL."""

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from orderstate.topics_admin import TopicMismatchError, create_topics
from tests.support.kafka import delete_topics, unique_topics
from tests.support.pipeline import settings_for, wait_for


async def test_topics_create_makes_the_alerts_and_changelog_topics(
    kafka_bootstrap: str, database_url: str
) -> None:
    names = unique_topics()
    settings = settings_for(kafka_bootstrap, database_url, names)
    group = settings.monitor_group
    try:
        created = await create_topics(settings, partitions=4)
        orders_changelog = f"{group}-monitor-orders-changelog"
        counts_changelog = f"{group}-monitor-counts-changelog"
        leader = f"{group}-__assignor-__leader"
        assert set(created) == {*names.all, orders_changelog, counts_changelog, leader}
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            described: list[dict[str, Any]] = []

            async def known() -> bool:
                # A topic just created has no partitions in the metadata for a moment.
                described[:] = await admin.describe_topics(
                    [orders_changelog, counts_changelog, leader]
                )
                return all(d["partitions"] for d in described)

            await wait_for(known, timeout_s=10)
            configs = await admin.describe_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, orders_changelog),
                    ConfigResource(ConfigResourceType.TOPIC, counts_changelog),
                ]
            )
        finally:
            await admin.close()
        assert [len(d["partitions"]) for d in described] == [4, 4, 1]
        found = {
            resource[3]: {entry[0]: entry[1] for entry in resource[4]}
            for response in configs
            for resource in response.resources
        }
        assert found[orders_changelog]["cleanup.policy"] == "compact"
        assert found[counts_changelog]["cleanup.policy"] == "compact,delete"
        # The hours shown (ORDERSTATE_MONITOR_COUNT_HOURS, 24) and one for late events.
        assert found[counts_changelog]["retention.ms"] == str(25 * 3600 * 1000)
        # Run again: nothing is missing any more.
        assert await create_topics(settings, partitions=4) == []
        # Another count for existing topics is refused, not quietly kept (it answered
        # "created 0 topics: none needed" to --partitions 12 on topics of 6).
        with pytest.raises(TopicMismatchError) as refused:
            await create_topics(settings, partitions=12)
        assert f"{names.orders} has 4" in str(refused.value)
        assert "existing topics are never changed" in str(refused.value)
    finally:
        await delete_topics(kafka_bootstrap, names.all, prefix=f"{group}-")


async def test_topics_create_fails_when_kafka_refuses_a_topic(
    kafka_bootstrap: str, database_url: str
) -> None:
    # The broker answers a refusal per topic, and aiokafka raises for none: the command used
    # to report such topics as created, and read their partition count as 0.
    names = unique_topics()
    settings = settings_for(kafka_bootstrap, database_url, names)
    try:
        with pytest.raises(TopicMismatchError, match=r"refused to create topic .*replication"):
            await create_topics(settings, partitions=2, replication=3)
    finally:
        await delete_topics(kafka_bootstrap, names.all, prefix=f"{settings.monitor_group}-")
