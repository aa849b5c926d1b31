"""An API client on a fresh database per test."""

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support.api import Api, api_for


@pytest.fixture
async def api(database_url: str, kafka_bootstrap: str) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=SecretStr(database_url), kafka_bootstrap_servers=kafka_bootstrap
    )
    async for ready in api_for(settings):
        yield ready
