"""decode_record under hostile input: every record decodes or is one DecodeError whose
message can be stored and shown, whatever the producer sent."""

import json

from hypothesis import HealthCheck, given, settings

from orderstate.events.decode import decode_record
from orderstate.events.errors import DecodeError
from orderstate.events.topics import TopicRole
from tests.support.hostile_records import HostileRecord, hostile_records

# About 10 s of the 60 s fuzzing budget of `make test`; bench/security.py runs 100,000.
_EXAMPLES = 1500


@settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_records(max_bytes=1_100_000))
def test_every_record_decodes_or_is_malformed(hostile: HostileRecord) -> None:
    try:
        decoded = decode_record(
            key=hostile.key,
            value=hostile.value,
            headers=hostile.headers,
            topic_role=TopicRole.ORDERS_IN,
        )
    except DecodeError as error:
        # Stored in PostgreSQL text and published as JSON: no NUL, valid UTF-8, bounded.
        assert "\x00" not in error.message
        error.message.encode("utf-8")
        assert 0 < len(error.message) <= 4096, error.message[:200]
        assert hostile.kind != "valid", error.message
        return
    assert hostile.kind in {
        "valid",
        "extension_attribute",
        "structured_mode",
        "wrong_type",
        "huge_string",
        "attribute_duplicated",
    }, hostile.kind
    json.dumps(decoded.event.model_dump(mode="json")).encode("utf-8")
