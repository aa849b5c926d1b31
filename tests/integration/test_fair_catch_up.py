"""A worker catching up on a backlog (after a restart, a rebalance or a freeze) moves every
partition it owns forward together, not one partition after another.

The consumer hands out what one fetch brought for a partition before it looks at the next
(aiokafka drains its per-partition buffers in turn). With the client's default of 1 MiB per
partition and fetch, a worker that took over six partitions with a few thousand records each
read them one partition at a time, and the last partition stood still for the whole
catch-up: 10 s after a worker kill in the fault-injection run, while the worker was busy.
"""

from orderstate.worker.loop import projector_consumer
from tests.support.events import created, record
from tests.support.kafka import PARTITIONS, TopicNames
from tests.support.pipeline import produce, settings_for

# About 1,800 records, ~600 KiB, per partition: under the client's default 1 MiB per
# partition, so with that default one fetch holds a whole partition's backlog.
_RECORDS = 1_800 * PARTITIONS


async def test_the_workers_consumer_hands_out_every_partitions_backlog_in_turns(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    await produce(
        kafka_bootstrap,
        topics.orders,
        [record(created(order=f"FAIR-{n}")) for n in range(_RECORDS)],
    )
    settings = settings_for(kafka_bootstrap, database_url, topics)
    # The worker's own consumer, read the way the worker reads (batches of batch_max_events).
    consumer = projector_consumer(settings)
    consumer.subscribe([topics.orders])
    await consumer.start()
    read: dict[int, int] = {}
    try:
        # A third of the backlog: drained in turns, two partitions of six are done by then
        # and four have not started.
        while sum(read.values()) < _RECORDS // 3:
            got = await consumer.getmany(timeout_ms=10_000, max_records=settings.batch_max_events)
            assert got, f"nothing more to read after {read}"
            for tp, records in got.items():
                read[tp.partition] = read.get(tp.partition, 0) + len(records)
    finally:
        await consumer.stop()
    assert len(read) == PARTITIONS, f"partitions not read yet at a third of the backlog: {read}"
