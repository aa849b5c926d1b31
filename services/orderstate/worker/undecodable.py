"""Records aiokafka cannot hand over: a header name that is not UTF-8.

aiokafka decodes header names while it iterates a fetched batch. A name that is not UTF-8
raises UnicodeDecodeError out of ``getmany()`` for the whole call: the records other
partitions gave up in that call are lost from the consumer's position, and the next fetch
raises again on the same record, so without this its partition stands still for good. Only a
client that writes raw header bytes can send such a record (kcat can; aiokafka cannot).

The worker finds the record, re-reads what the failed call lost, and puts an ``Undecodable``
in the record's place: it becomes a malformed rejection at the record's position, like any
other record that cannot be decoded, and the partition goes on after it.
"""

import inspect
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

__all__ = ["UNDECODABLE_MESSAGE", "Undecodable", "locate"]

UNDECODABLE_MESSAGE = "a header name is not valid UTF-8; the record cannot be read"


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Stands in for the record at ``offset``, with the fields of a ConsumerRecord that
    reading it needs. Its own timestamp cannot be read, so it carries 0: it moves no clock
    and takes its partition's current merge time, the same in every replay."""

    topic: str
    partition: int
    offset: int
    timestamp: int = 0
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = field(default=())


def locate(consumer: Any) -> tuple[TopicPartition, int] | None:
    """Right after ``getmany()`` raised UnicodeDecodeError: the partition whose fetched data
    raised, and the offset of the record that did; None when it cannot be told.

    Reads the state aiokafka (0.14) leaves behind: the failed partition's record iterator is
    a generator closed by the exception, and its ``next_fetch_offset`` stopped at the record
    it could not read (it moves past every record it yields, and past control batches). This
    is aiokafka's private state, so tests/integration/test_hostile_records.py checks it on
    the real broker and fails if an upgrade changes it.
    """
    fetched = getattr(getattr(consumer, "_fetcher", None), "_records", None)
    if not isinstance(fetched, dict):
        return None
    for tp, result in fetched.items():
        records = getattr(result, "_partition_records", None)
        iterator = getattr(records, "_records_iterator", None)
        if inspect.isgenerator(iterator) and (
            inspect.getgeneratorstate(iterator) == inspect.GEN_CLOSED
        ):
            offset = getattr(records, "next_fetch_offset", None)
            if isinstance(offset, int):
                return TopicPartition(tp.topic, tp.partition), offset
    return None
