"""The OpenAPI document of the REST API, as published in ``schemas/openapi.json``."""

import json
from datetime import UTC, datetime
from typing import cast

import asyncpg

from orderstate.api.app import create_api
from orderstate.api.context import ApiContext
from orderstate.domain import PolicyBook
from orderstate.settings import Settings

__all__ = ["openapi_json"]


def openapi_json() -> str:
    # Built from the routes alone: no request is served, so no pool is needed.
    context = ApiContext(
        # The defaults, not the environment: the document is the same wherever it is built.
        settings=Settings.model_construct(),
        pool=cast(asyncpg.Pool, None),
        policies=PolicyBook(),
        clock=lambda: datetime.now(UTC),
    )
    document = create_api(context).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
