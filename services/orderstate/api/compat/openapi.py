"""What the compatibility layer adds to the OpenAPI document.

Request bodies are read by a dependency (``routes/body.py``), not by a FastAPI body parameter,
so each write route names its model with ``request_body`` and ``document`` adds the models'
schemas. The legacy spellings of paths (``compat.paths``) are documented as their own path
items, operation for operation.
"""

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from orderstate.api.compat.paths import JSON_SUFFIX_PATHS
from orderstate.api.requests import (
    OrderCreate,
    OrderStateCreate,
    ShipmentCreate,
    TagsBody,
    TokenRequest,
)
from orderstate.events.inbound import ItemAddedData, ItemChanges, OrderUpdatedData

__all__ = ["document", "request_body"]

_REF = "#/components/schemas/{model}"
_REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    OrderCreate,
    OrderUpdatedData,
    OrderStateCreate,
    ShipmentCreate,
    ItemAddedData,
    ItemChanges,
    TagsBody,
    TokenRequest,
)
_ALIASES = {"/v2/order_states": "/v2/order-states"}
_METHODS = {"get", "put", "post", "patch", "delete"}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body ``compat_body`` reads."""
    if model not in _REQUEST_MODELS:
        raise ValueError(f"{model.__name__} is not a documented request model")
    return {
        "requestBody": {
            "required": True,
            "description": "JSON; sent without a Content-Type header, it is read as JSON too. "
            "Fields orderstate does not use are ignored and named in "
            "X-Orderstate-Ignored-Fields (refused in strict mode).",
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}
            },
        }
    }


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    _add_request_schemas(openapi)
    _add_path_aliases(openapi)
    return openapi


def _add_request_schemas(openapi: dict[str, Any]) -> None:
    _, top = models_json_schema([(m, "validation") for m in _REQUEST_MODELS], ref_template=_REF)
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in top.get("$defs", {}).items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"two different schemas are named {name!r} in the OpenAPI document")
        schemas[name] = schema


def _add_path_aliases(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    aliases = {f"{p}.json": p for p in JSON_SUFFIX_PATHS} | _ALIASES
    for alias, canonical in aliases.items():
        item = copy.deepcopy(paths[canonical])
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            operation["operationId"] = f"{operation['operationId']}_legacy_{_slug(alias)}"
            operation["summary"] = f"{operation.get('summary', '')} (legacy path: {alias})"
            operation["description"] = (
                f"The same operation as `{canonical}`, at the spelling Seven Senders clients "
                f"use.\n\n{operation.get('description', '')}"
            )
        paths[alias] = item


def _slug(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in path).strip("_")
