"""Pass two: the planned orders to the inbound orders topic, in one Kafka transaction.

The file is read again and each planned line mapped again (the mapping is a function of the
line, so it gives the same event as in pass one). Everything goes out in one transaction:
the worker reads ``read_committed``, so it sees all of the file's orders or, when anything
fails (the broker, a file changed since it was checked, Ctrl-C), none of them. Records are
keyed ``<shop_id>:<order_id>`` and partitioned by Kafka's default partitioner, as REST writes
are (docs/reliability.md).
"""

import asyncio
from collections.abc import Callable, Collection
from hashlib import sha256
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from orderstate.api.compat.reading import Reading
from orderstate.backfill.lines import LineError, read_line
from orderstate.backfill.scan import Limits, file_lines
from orderstate.events.envelope import encode_binary
from orderstate.events.topics import TopicRole
from orderstate.kafka_client import kafka_options
from orderstate.settings import Settings
from orderstate.startup import start_kafka_client

__all__ = ["TRANSACTION_TIMEOUT_MS", "FileChangedError", "publish"]

# A file must be published within it. It also bounds how long an unfinished transaction (a
# run killed mid-publish) holds back read_committed consumers, the worker among them.
TRANSACTION_TIMEOUT_MS = 300_000
# Records in flight before the progress bar moves on: acknowledged, not merely queued.
_WAVE = 1_000


class FileChangedError(RuntimeError):
    """The file is not what was checked: nothing of it was published."""


async def publish(
    settings: Settings,
    path: Path,
    *,
    shop_id: str,
    reading: Reading,
    emit: bool,
    limits: Limits,
    event_ids: Collection[str],
    digest: str,
    advance: Callable[[int], None],
) -> int:
    """Publish the lines whose event id is in ``event_ids``; return how many went out."""
    producer = AIOKafkaProducer(
        **kafka_options(settings, role="backfill"),
        # Two runs of the same file fence each other; runs of different files do not.
        transactional_id=f"{settings.kafka_client_id}-backfill-{shop_id}-{digest[:16]}",
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        acks="all",
        linger_ms=20,
    )
    await start_kafka_client(producer, settings, "backfill", wait_s=10, quiet=True)
    topic = settings.topic_name(TopicRole.ORDERS_IN)
    sent = 0
    try:
        async with producer.transaction():
            seen = sha256()
            wave: list[asyncio.Future[Any]] = []
            for number, line, _ in file_lines(path):
                seen.update(line)
                seen.update(b"\n")
                if not line.strip():
                    continue
                read = read_line(
                    line,
                    number,
                    shop_id=shop_id,
                    reading=reading,
                    emit=emit,
                    max_bytes=limits.max_payload_bytes,
                )
                if isinstance(read, LineError) or read.event.id not in event_ids:
                    continue
                headers, value = encode_binary(read.event)
                wave.append(
                    await producer.send(
                        topic, value=value, key=read.event.key.encode(), headers=headers
                    )
                )
                if len(wave) >= _WAVE:
                    sent += await _settle(wave, advance)
            sent += await _settle(wave, advance)
            if seen.hexdigest() != digest:
                raise FileChangedError(
                    f"{path} changed while it was imported; nothing was published"
                )
    finally:
        await producer.stop()
    return sent


async def _settle(wave: list[asyncio.Future[Any]], advance: Callable[[int], None]) -> int:
    count = len(wave)
    await asyncio.gather(*wave)
    wave.clear()
    advance(count)
    return count
