"""Records faust read but never handed to the monitor's agent are read again.

faust-streaming's stream drops records that arrive while its flow control is suspended or
with a stale generation id, without seeking back (services/orderstate/monitor/delivery.py).
It struck the SIGKILL recovery test about one run in four on a loaded machine: the restarted
monitor's consumer stood at the end of every partition and its agent had received nothing.
Here the consumer is moved past new records before it fetches them, which leaves it in that
same state, deterministically."""

from tests.support.kafka import TopicNames
from tests.support.monitor import (
    ManualClock,
    Order,
    alerts_until,
    at,
    monitor_settings,
    running_monitor,
)
from tests.support.pipeline import produce


async def test_records_the_consumer_read_past_are_read_again(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
    clock = ManualClock(at(60))
    async with running_monitor(settings, clock=clock) as running:
        app = running.monitor.app
        assert app is not None
        consumer = app.consumer
        inputs = [tp for tp in consumer.assignment() if tp.topic == topics.order_events]
        assert len(inputs) == 6
        consumer.pause_partitions(inputs)
        order = Order("SKIPPED")
        await produce(
            kafka_bootstrap, topics.order_events, order.create(at(0)) + order.to("paid", at(1))
        )
        ends = await consumer.highwaters(*inputs)
        assert sum(ends.values()) == 2
        for tp in inputs:
            await consumer.seek(tp, ends[tp])
        consumer.resume_partitions(inputs)

        # Overdue in paid since hour 49: raised once the skipped events are read again.
        [raised] = await alerts_until(kafka_bootstrap, topics.alerts, 1, timeout_s=30)
    assert raised.type == "alert.raised"
    assert raised.data["order_id"] == "SKIPPED"
    assert raised.data["rule"] == "state_deadline.paid"
