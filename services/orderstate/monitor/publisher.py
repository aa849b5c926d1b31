"""Everything one monitor batch writes to Kafka, sent together and acknowledged together.

A batch of the monitor produces alert events (binary-mode CloudEvents, keyed by the order) and
the changelog records of the tables it changed. They go through one idempotent aiokafka
producer with ``acks=all`` and the batch waits for every acknowledgement before it returns,
so faust acknowledges (and later commits) the batch's input offsets only after its output is
durable. faust's own ``Table.__setitem__`` would send the changelog records one by one through
faust's buffered producer, which ran at a third of the speed (bench/results.md, "Monitor"),
and leaves it to the offset commit to flush them.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from orderstate.events.envelope import binary_from_data
from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client

__all__ = ["Outgoing", "Publisher", "changelog_record"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None = None


def changelog_record(topic: str, key: Any, value: Any, partition: int) -> Outgoing:
    """A faust table changelog record, serialized as the table's ``json`` codec reads it."""
    return Outgoing(
        topic=topic,
        key=json.dumps(key, separators=(",", ":")).encode(),
        value=json.dumps(value, separators=(",", ":")).encode(),
        headers=[],
        partition=partition,
    )


def alert_record(topic: str, event: dict[str, Any]) -> Outgoing:
    headers, value = binary_from_data(event)
    return Outgoing(topic, f"{event['shopid']}:{event['orderid']}".encode(), value, headers)


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.producer = AIOKafkaProducer(
            **kafka_options(settings, role="monitor"),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=settings.max_event_bytes + 64 * 1024,
        )

    async def start(self, settings: Settings) -> None:
        await start_kafka_client(self.producer, settings, "monitor's producer")

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, records: list[Outgoing]) -> None:
        """Send all, then wait for every acknowledgement; raises if any failed."""
        if not records:
            return
        futures = [
            await self.producer.send(
                r.topic, value=r.value, key=r.key, headers=r.headers, partition=r.partition
            )
            for r in records
        ]
        await asyncio.gather(*futures)
