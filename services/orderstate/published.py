"""Every file of the published contract under ``schemas/``: event schemas, examples,
AsyncAPI (from ``orderstate.events``) and OpenAPI (from ``orderstate.api``)."""

from orderstate.api.openapi_export import openapi_json
from orderstate.events.contract import export_contract

__all__ = ["published_files"]


def published_files() -> dict[str, str]:
    return {**export_contract(), "openapi.json": openapi_json()}
