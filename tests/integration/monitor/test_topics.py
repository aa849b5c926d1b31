"""`orderstate topics create` makes the alerts topic and the monitor's changelog topics."""

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from orderstate.topics_admin import create_topics
from tests.support.kafka import delete_topics, unique_topics
from tests.support.pipeline import settings_for


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
        assert set(created) == {*names.all, orders_changelog, counts_changelog}
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([orders_changelog, counts_changelog])
            configs = await admin.describe_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, orders_changelog),
                    ConfigResource(ConfigResourceType.TOPIC, counts_changelog),
                ]
            )
        finally:
            await admin.close()
        assert [len(d["partitions"]) for d in described] == [4, 4]
        found = {
            resource[3]: {entry[0]: entry[1] for entry in resource[4]}
            for response in configs
            for resource in response.resources
        }
        assert found[orders_changelog]["cleanup.policy"] == "compact"
        assert found[counts_changelog]["cleanup.policy"] == "compact,delete"
        assert found[counts_changelog]["retention.ms"] == str(4 * 3600 * 1000)
        # Run again: nothing is missing any more.
        assert await create_topics(settings, partitions=4) == []
    finally:
        await delete_topics(kafka_bootstrap, names.all, prefix=f"{group}-")
