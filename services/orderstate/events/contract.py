"""The published contract as files: JSON Schemas, examples and the AsyncAPI document.

``export_contract()`` is pure: it returns ``{relative path: text}`` for
``schemas/``; the CLI writes the files and a contract test compares them with
what is committed, so the two can never differ silently.
"""

import copy
import json
from typing import Any

import yaml
from pydantic import BaseModel

from orderstate.events.alerts import RULE_PATTERN, AlertClearedOut, AlertRaisedOut
from orderstate.events.envelope import EXTENSION_NAME, CloudEvent
from orderstate.events.examples import inbound_examples, outbound_examples
from orderstate.events.fields import ID_PATTERN, REFERENCE_PATTERN
from orderstate.events.outbound import (
    BoardingCompletedOut,
    EventRejectedOut,
    LateEventRecordedOut,
    OrderDeletedOut,
    OrderUpdatedOut,
    ShipmentLinkedOut,
    StateChangedOut,
)
from orderstate.events.registry import INBOUND_TYPES
from orderstate.events.topics import KEY_FORMAT, SEQUENCED, TOPICS, Direction, TopicRole

__all__ = ["OUTBOUND_MODELS", "export_contract", "message_name"]

OUTBOUND_MODELS: dict[str, type[BaseModel]] = {
    "order.state_changed": StateChangedOut,
    "order.boarding_completed": BoardingCompletedOut,
    "order.shipment_linked": ShipmentLinkedOut,
    "order.late_event_recorded": LateEventRecordedOut,
    "order.updated": OrderUpdatedOut,
    "order.deleted": OrderDeletedOut,
    "event.rejected": EventRejectedOut,
    "alert.raised": AlertRaisedOut,
    "alert.cleared": AlertClearedOut,
}

# Outbound types whose events carry ``sequence``: those of the order events topic.
_SEQUENCED_TYPES = frozenset(t for topic in SEQUENCED for t in TOPICS[topic].types)
_ALERT_TYPES = frozenset(TOPICS[TopicRole.ALERTS_OUT].types)

_SCHEMA_BASE = "https://orderstate.dev/schemas/"


def message_name(direction: Direction, type_name: str) -> str:
    """``inbound.order.created`` style: the same type exists in both directions."""
    return f"{direction}.{type_name}"


def export_contract() -> dict[str, str]:
    files: dict[str, str] = {}
    for direction, models in (
        (Direction.INBOUND, {t: i.model for t, i in INBOUND_TYPES.items()}),
        (Direction.OUTBOUND, OUTBOUND_MODELS),
    ):
        for type_name, model in sorted(models.items()):
            path = f"jsonschema/{direction}/{type_name}.json"
            files[path] = _json(_event_schema(direction, type_name, model, path))
    for direction, examples in (
        (Direction.INBOUND, inbound_examples()),
        (Direction.OUTBOUND, outbound_examples()),
    ):
        for type_name, event in sorted(examples.items()):
            files[f"examples/{direction}/{type_name}.json"] = _json(
                event.model_dump(mode="json", exclude_none=True)
            )
    files["asyncapi.yaml"] = yaml.safe_dump(
        _asyncapi(), sort_keys=False, allow_unicode=True, width=100
    )
    return files


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _event_schema(
    direction: Direction, type_name: str, model: type[BaseModel], path: str
) -> dict[str, Any]:
    """A structured-mode CloudEvent of one type: the envelope with this type's ``data``."""
    envelope = CloudEvent.model_json_schema()
    data_schema = model.model_json_schema()
    defs = {**envelope.pop("$defs", {}), **data_schema.pop("$defs", {})}
    properties = envelope["properties"]
    properties["type"] = {"const": type_name, "title": "Type"}
    properties["data"] = data_schema
    required = list(envelope["required"])
    if direction is Direction.INBOUND or type_name in _ALERT_TYPES:
        del properties["sequence"]
    elif type_name in _SEQUENCED_TYPES:
        required.append("sequence")
    if direction is Direction.OUTBOUND:
        del properties["redriveof"]
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _SCHEMA_BASE + path,
        "title": f"{type_name} ({direction})",
        "description": (
            f"CloudEvents 1.0 structured-mode event of type {type_name}. In binary mode the "
            "attributes travel as ce_* Kafka headers and 'data' is the record value."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }
    if direction is Direction.INBOUND:
        # What a producer may add and orderstate ignores (docs/events.md, "extension
        # attributes"), such as traceparent. The decoder also checks their values (a string,
        # an integer or a boolean); here a known attribute's name matches the pattern too,
        # so the pattern leaves the value to the attribute's own schema.
        schema["patternProperties"] = {
            f"^{EXTENSION_NAME}$": {
                "description": "An extension attribute: accepted and ignored by orderstate."
            }
        }
    if defs:
        schema["$defs"] = defs
    return schema


def _asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS.values():
        channel_messages = {}
        for type_name in topic.types:
            name = message_name(topic.direction, type_name)
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
            messages[name] = _message(topic.direction, type_name)
        channels[topic.role.value] = {
            "address": topic.default_name,
            "description": topic.description,
            "messages": channel_messages,
            "bindings": {"kafka": {"topic": topic.default_name, "bindingVersion": "0.5.0"}},
        }
        operations[
            f"{'receive' if topic.direction is Direction.INBOUND else 'send'}_{topic.role.value}"
        ] = {
            "action": "receive" if topic.direction is Direction.INBOUND else "send",
            "channel": {"$ref": f"#/channels/{topic.role.value}"},
            "messages": [
                {"$ref": f"#/channels/{topic.role.value}/messages/{m}"} for m in channel_messages
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "orderstate",
            "version": "1.0.0",
            "description": (
                "Order lifecycle events in and out of orderstate. Every message is a CloudEvents "
                "1.0 event; orderstate writes binary content mode (ce_* headers, data as the "
                "value) and reads binary and structured mode. The key of every record is "
                f"'{KEY_FORMAT}' in UTF-8, so all events of one order share a partition; it "
                "splits at the first ':', which a shop id never contains (an order id may)."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _message(direction: Direction, type_name: str) -> dict[str, Any]:
    path = f"jsonschema/{direction}/{type_name}.json"
    return {
        "name": type_name,
        "title": f"{type_name} ({direction})",
        "contentType": "application/json",
        "payload": {"$ref": f"./{path}#/properties/data"},
        "headers": _ce_headers(direction, type_name),
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "pattern": f"{ID_PATTERN.removesuffix('$')}:{REFERENCE_PATTERN[1:]}",
                    "description": f"{KEY_FORMAT}, UTF-8; split at the first ':'",
                },
                "bindingVersion": "0.5.0",
            }
        },
    }


def _ce_headers(direction: Direction, type_name: str) -> dict[str, Any]:
    envelope = copy.deepcopy(CloudEvent.model_json_schema())
    props = envelope["properties"]
    headers = {
        f"ce_{name}": {"type": "string", "description": f"CloudEvents attribute '{name}'"}
        for name in ("specversion", "id", "source", "type", "time", "shopid", "orderid")
    }
    headers["ce_type"]["const"] = type_name
    headers["ce_specversion"]["const"] = "1.0"
    headers["ce_time"]["format"] = "date-time"
    headers["ce_shopid"]["pattern"] = props["shopid"]["pattern"]
    headers["ce_orderid"]["pattern"] = props["orderid"]["pattern"]
    required = list(headers)
    if direction is Direction.OUTBOUND and type_name in _SEQUENCED_TYPES:
        headers["ce_sequence"] = {
            "type": "string",
            "description": "The event's number among its order's outbound events: 1, 2, 3, ... "
            "with no gap and no repeat (data.version is the order's version). Delivery is "
            "at-least-once: deduplicate on (key, sequence) or on ce_id; a sequence above the "
            "last seen + 1 is a gap (docs/reliability.md).",
        }
        required.append("ce_sequence")
    if type_name in _ALERT_TYPES:
        headers["ce_subject"] = {
            "type": "string",
            "pattern": RULE_PATTERN,
            "description": "CloudEvents attribute 'subject': the alert's rule",
        }
        required.append("ce_subject")
    if direction is Direction.INBOUND:
        headers["ce_redriveof"] = {
            "type": "string",
            "description": "Only on an event `orderstate redrive` appended again: the id of the "
            "rejected event it re-applies (same source, type, time and data, a new ce_id); "
            "docs/redrive.md.",
        }
    headers["content-type"] = {"type": "string", "const": "application/json"}
    return {"type": "object", "required": required, "properties": headers}
