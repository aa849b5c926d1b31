"""Each vocabulary is declared once and every published document agrees with it."""

import json
import re
from pathlib import Path

import yaml

import orderstate.domain.reasons as reasons_module
from orderstate.api.problems import ApiCode
from orderstate.domain import ReasonCode
from orderstate.events.registry import INBOUND_TYPES
from orderstate.events.topics import TOPICS, Direction, TopicRole

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_registry_and_topic_table_name_the_same_inbound_types() -> None:
    for role in (TopicRole.ORDERS_IN, TopicRole.SHIPMENTS_IN):
        registered = {name for name, t in INBOUND_TYPES.items() if t.topic is role}
        assert set(TOPICS[role].types) == registered


def test_asyncapi_lists_every_topic_and_message() -> None:
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    assert document["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {t.default_name for t in TOPICS.values()}
    for topic in TOPICS.values():
        channel = document["channels"][topic.role.value]
        assert set(channel["messages"]) == {f"{topic.direction}.{t}" for t in topic.types}
    actions = {op["action"] for op in document["operations"].values()}
    assert actions == {"send", "receive"}


def test_asyncapi_message_references_resolve() -> None:
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    for name, message in document["components"]["messages"].items():
        path, _, pointer = message["payload"]["$ref"].partition("#")
        assert (SCHEMAS / path).is_file(), name
        assert pointer == "/properties/data"


def test_reasons_docstring_explains_every_code() -> None:
    documented = set(re.findall(r"^    ([a-z_]+) {2,}", reasons_module.__doc__ or "", re.M))
    assert documented == {code.value for code in ReasonCode}


def test_rejected_topic_is_outbound_and_carries_only_rejections() -> None:
    rejected = TOPICS[TopicRole.REJECTED_OUT]
    assert rejected.direction is Direction.OUTBOUND
    assert rejected.types == ("event.rejected",)


def test_openapi_lists_every_reason_code_as_an_enum() -> None:
    """REST problems and rejected Kafka events share one vocabulary."""
    document = json.loads((SCHEMAS / "openapi.json").read_text())
    codes = document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    assert set(codes) == {c.value for c in ReasonCode} | {c.value for c in ApiCode}
    assert set(document["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
