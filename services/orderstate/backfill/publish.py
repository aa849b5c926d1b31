"""The planned orders to the inbound orders topic, in one Kafka transaction.

The records come from the spool the check wrote (``scan``), ready to send, so the
transaction spans the sending and nothing else. The worker reads ``read_committed``: it
sees all of the file's orders or, when anything fails (the broker, Ctrl-C), none of them.
Records are keyed ``<shop_id>:<order_id>`` and partitioned by Kafka's default partitioner,
as REST writes are (docs/reliability.md).
"""

import asyncio
from collections.abc import Callable, Collection
from hashlib import sha256
from typing import IO, Any

from aiokafka import AIOKafkaProducer

from orderstate.backfill.scan import spooled
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client

__all__ = ["TRANSACTION_TIMEOUT_MS", "publish", "transactional_id"]

# A file must be published within it. It also bounds how long an unfinished transaction (a
# run killed mid-publish) holds back read_committed consumers, the worker among them.
TRANSACTION_TIMEOUT_MS = 300_000
# Records in flight before the progress bar moves on: acknowledged, not merely queued.
_WAVE = 1_000


def transactional_id(settings: Settings, shop_id: str, event_ids: Collection[str]) -> str:
    """The same for a run that publishes the same orders: a run again after one killed
    mid-publish fences it, and the broker aborts its transaction at once instead of after
    the timeout. Runs of other files do not fence each other."""
    digest = sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:16]
    return f"{settings.kafka_client_id}-backfill-{shop_id}-{digest}"


async def publish(
    settings: Settings,
    spool: IO[bytes],
    *,
    shop_id: str,
    event_ids: Collection[str],
    advance: Callable[[int], None],
) -> int:
    """Publish the spooled records whose event id is in ``event_ids``; return how many."""
    producer = AIOKafkaProducer(
        **kafka_options(settings, role="backfill"),
        transactional_id=transactional_id(settings, shop_id, event_ids),
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        acks="all",
        linger_ms=20,
    )
    await start_kafka_client(producer, settings, "backfill", wait_s=10, quiet=True)
    topic = settings.topic_name(TopicRole.ORDERS_IN)
    sent = 0
    try:
        async with producer.transaction():
            wave: list[asyncio.Future[Any]] = []
            for event_id, key, headers, value in spooled(spool):
                if event_id not in event_ids:
                    continue
                wave.append(await producer.send(topic, value=value, key=key, headers=headers))
                if len(wave) >= _WAVE:
                    sent += await _settle(wave, advance)
            sent += await _settle(wave, advance)
    finally:
        await producer.stop()
    return sent


async def _settle(wave: list[asyncio.Future[Any]], advance: Callable[[int], None]) -> int:
    count = len(wave)
    await asyncio.gather(*wave)
    wave.clear()
    advance(count)
    return count
