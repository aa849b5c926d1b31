"""The stand-in for a record aiokafka cannot read becomes a malformed rejection at the
record's own position, and moves no clock (worker/undecodable.py)."""

from orderstate.events.decode import DecodeLimits
from orderstate.events.topics import TopicRole
from orderstate.projector.inputs import Malformed, Position
from orderstate.worker.records import read_record
from orderstate.worker.undecodable import UNDECODABLE_MESSAGE, Undecodable


def test_an_undecodable_record_reads_as_malformed_with_only_its_position() -> None:
    stand_in = Undecodable("shop.orders.v1", 3, 1234)
    read = read_record(stand_in, TopicRole.ORDERS_IN, DecodeLimits())
    assert read.key_ms == 0  # takes the partition's current merge time
    assert read.error is not None
    assert read.error.message == UNDECODABLE_MESSAGE
    position = Position("shop.orders.v1", 3, 1234, 5000, 5000, 5000)
    made = read.input(stand_in, TopicRole.ORDERS_IN, position)
    assert isinstance(made, Malformed)
    original = made.original
    assert (original.topic, original.partition, original.offset) == ("shop.orders.v1", 3, 1234)
    assert (original.key, original.value, original.headers) == (None, None, {})
    assert made.key[0] == "unknown"
