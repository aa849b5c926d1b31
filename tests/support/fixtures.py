"""Fixtures for tests that need the real Kafka broker and PostgreSQL server: unique topics and
a fresh database per test. Loaded by tests/conftest.py; instantiated only where requested."""

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import databases, kafka
from tests.support.infra import Endpoints, InfrastructureUnavailable, provide


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    try:
        with provide() as found:
            yield found
    except InfrastructureUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def kafka_bootstrap(endpoints: Endpoints) -> str:
    return endpoints.kafka_bootstrap


@pytest.fixture(scope="session")
async def template_database(endpoints: Endpoints) -> AsyncIterator[str]:
    name = await databases.create_template(endpoints.database_url)
    yield name
    await databases.drop_database(endpoints.database_url, name)


@pytest.fixture
async def database_url(endpoints: Endpoints, template_database: str) -> AsyncIterator[str]:
    name = await databases.clone_database(endpoints.database_url, template_database)
    yield databases.with_database(endpoints.database_url, name)
    await databases.drop_database(endpoints.database_url, name)


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[kafka.TopicNames]:
    names = kafka.unique_topics()
    await kafka.create_topics(kafka_bootstrap, names.all)
    yield names
    # A monitor's group is named after the orders topic (tests.support.pipeline.settings_for).
    await kafka.delete_topics(kafka_bootstrap, names.all, prefix=f"{names.orders}.monitor-")
