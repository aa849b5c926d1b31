"""Every example validates against its JSON Schema, and inbound examples decode to changes."""

import json
from pathlib import Path

import jsonschema
import pytest

from orderstate.events.decode import decode_record
from orderstate.events.envelope import CloudEvent, encode_binary
from orderstate.events.registry import INBOUND_TYPES
from orderstate.events.topics import TOPICS, Direction

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
EXAMPLES = sorted((SCHEMAS / "examples").rglob("*.json"))


def _schema_for(example: Path) -> dict[str, object]:
    relative = example.relative_to(SCHEMAS / "examples")
    schema: dict[str, object] = json.loads((SCHEMAS / "jsonschema" / relative).read_text())
    return schema


def test_every_type_in_the_topic_table_has_an_example_and_a_schema() -> None:
    expected = {
        f"{topic.direction}/{type_name}.json"
        for topic in TOPICS.values()
        for type_name in topic.types
    }
    examples = {p.relative_to(SCHEMAS / "examples").as_posix() for p in EXAMPLES}
    schemas = {
        p.relative_to(SCHEMAS / "jsonschema").as_posix()
        for p in (SCHEMAS / "jsonschema").rglob("*.json")
    }
    assert examples == expected
    assert schemas == expected


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.relative_to(SCHEMAS).as_posix())
def test_example_validates_against_its_schema(example: Path) -> None:
    schema = _schema_for(example)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(json.loads(example.read_text()))


@pytest.mark.parametrize(
    "example",
    [p for p in EXAMPLES if p.parent.name == Direction.INBOUND],
    ids=lambda p: p.stem,
)
def test_inbound_example_decodes_in_binary_mode(example: Path) -> None:
    event = CloudEvent.model_validate_json(example.read_text())
    headers, value = encode_binary(event)
    decoded = decode_record(
        key=event.key.encode(),
        value=value,
        headers=headers,
        topic_role=INBOUND_TYPES[event.type].topic,
    )
    assert decoded.event == event


def test_schema_rejects_what_the_decoder_rejects() -> None:
    """The published schema is as strict as the code: money as a float fails both."""
    example = SCHEMAS / "examples" / "inbound" / "order.created.json"
    event = json.loads(example.read_text())
    event["data"]["items"][0]["unit_price"] = 19.99
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, _schema_for(example))


def test_schema_accepts_the_extension_attributes_the_decoder_accepts() -> None:
    """docs/events.md: a producer may add extension attributes such as traceparent, and
    orderstate ignores them; the published schema refused them (additionalProperties)."""
    example = SCHEMAS / "examples" / "inbound" / "order.state_changed.json"
    event = json.loads(example.read_text())
    event["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    jsonschema.validate(event, _schema_for(example))
    decoded = decode_record(
        key=f"{event['shopid']}:{event['orderid']}".encode(),
        value=json.dumps(event).encode(),
        headers=[("content-type", b"application/cloudevents+json")],
        topic_role=INBOUND_TYPES[event["type"]].topic,
    )
    assert decoded.event.id == event["id"]
    # A name that is not an attribute name is refused by both.
    event["trace-parent"] = event.pop("traceparent")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, _schema_for(example))
