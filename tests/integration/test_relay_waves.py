"""The relay's waves: an order's rows of one round go out together in one record batch, and
still never out of order, also when the broker refuses one of them."""

import asyncio
from typing import Any

import asyncpg
import pytest

from orderstate.relay.outbox_relay import Relay
from tests.support.events import created, event, record, state
from tests.support.kafka import TopicNames, limit_topic
from tests.support.pipeline import (
    Published,
    consume_until,
    produce,
    relay_started,
    running,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

_ORDERS = 30


class _WaveCountingRelay(Relay):
    """Counts its waves: each one is a call of ``_send`` (no row is refused here, so none is
    sent again alone)."""

    waves = 0

    async def _send(self, *args: Any) -> Any:
        self.waves += 1
        return await super()._send(*args)


class _UnfittedRelay(Relay):
    """A relay that cannot read its topics' limits at start (as without the DescribeConfigs
    permission): its first batches are as large as ORDERSTATE_RELAY_BATCH_BYTES."""

    fitted = 0

    async def _fitting_batch_bytes(self) -> int:
        self.fitted += 1
        if self.fitted == 1:
            return self.settings.relay_batch_bytes
        return await super()._fitting_batch_bytes()


async def _rows(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _outbox_holds(url: str, rows: int) -> bool:
    return len(await _rows(url, "SELECT id FROM outbox")) >= rows


def _sequences(out: list[Published], key: str) -> list[int]:
    """The sequences of ``key``'s events in the order they are on the topic (one partition)."""
    return [int(p.headers["ce_sequence"]) for p in out if p.key == key]


def _tags(order: str, tags: dict[str, str], minutes: float) -> Any:
    return event("order.tags_set", {"order_tags": tags}, order=order, minutes=minutes)


async def test_an_orders_rows_of_one_round_go_out_in_one_wave(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    # Three events per order, all in the outbox before the relay starts: one round. A wave of
    # one row per order took three waves, each waiting for Kafka's acknowledgements.
    settings = settings_for(kafka_bootstrap, database_url, topics)
    records = []
    for n in range(_ORDERS):
        order = f"W-{n}"
        records += [
            record(created(order=order)),
            record(state("paid", order=order, minutes=1)),
            record(_tags(order, {"channel": "web"}, minutes=2)),
        ]
    async with running(settings, relays=0) as pipeline:
        await produce(kafka_bootstrap, topics.orders, records)
        await wait_for(lambda: _outbox_holds(database_url, 3 * _ORDERS), timeout_s=60)
        relay = _WaveCountingRelay(settings, pipeline.pool, stop=pipeline.stop)
        task = await relay_started(relay)
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len(s) >= 3 * _ORDERS, timeout_s=60
        )
        pipeline.stop.set()
        assert await task == 0
    assert relay.waves == 1
    for n in range(_ORDERS):
        assert _sequences(out, f"shop-1:W-{n}") == [1, 2, 3]


async def test_an_order_stops_at_its_refused_row_though_its_next_row_was_in_the_same_batch(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    # Order T's three rows go in one 256 KiB batch, which the topic (20,000 bytes) refuses
    # whole, as it refuses every first batch. Sent again one by one: T's first row goes out,
    # its second (100 long tags, over 20,000 bytes) is refused for itself, and its third
    # (small again, it would fit) must wait behind it, not go out ahead of it.
    await limit_topic(kafka_bootstrap, topics.order_events, 20_000)
    settings = settings_for(kafka_bootstrap, database_url, topics, relay_batch_bytes=256 * 1024)
    big = {f"k{n:03d}": "v" * 256 for n in range(100)}
    records = [
        record(created(order="T")),
        record(_tags("T", big, minutes=1)),
        record(_tags("T", {"size": "small"}, minutes=2)),
        *(record(created(order=f"O-{n}")) for n in range(10)),
    ]
    async with running(settings, relays=0) as pipeline:
        await produce(kafka_bootstrap, topics.orders, records)
        await wait_for(lambda: _outbox_holds(database_url, 13), timeout_s=60)
        relay = _UnfittedRelay(settings, pipeline.pool, stop=pipeline.stop)
        task = await relay_started(relay)
        out = await consume_until(
            kafka_bootstrap,
            topics.order_events,
            lambda s: sum(p.key.startswith("shop-1:O-") for p in s) >= 10,
            timeout_s=60,
        )

        async def dead_lettered() -> bool:
            return bool(
                await _rows(database_url, "SELECT id FROM outbox WHERE dead_at IS NOT NULL")
            )

        await wait_for(dead_lettered, timeout_s=30)
        # Whatever the relay does next, T's third row must stay where it is.
        await asyncio.sleep(2)
        out = await consume_until(
            kafka_bootstrap, topics.order_events, lambda s: len(s) >= len(out), timeout_s=30
        )
        pipeline.stop.set()
        assert await task == 0
    rows = {
        r["event_id"]: r
        for r in await _rows(
            database_url,
            "SELECT event_id, sequence, sent_at, dead_at, dead_reason FROM outbox "
            "WHERE order_id = 'T'",
        )
    }
    by_sequence = {int(r["sequence"]): r for r in rows.values()}
    assert _sequences(out, "shop-1:T") == [1]
    assert by_sequence[1]["sent_at"] is not None
    assert by_sequence[2]["dead_at"] is not None
    assert by_sequence[2]["dead_reason"].startswith("MessageSizeTooLargeError")
    assert by_sequence[3]["sent_at"] is None and by_sequence[3]["dead_at"] is None
    assert sorted(p.key for p in out if p.key != "shop-1:T") == sorted(
        f"shop-1:O-{n}" for n in range(10)
    )
    # Fitted at start, again after the refused batch and after T's row refused alone: a new
    # producer after each refusal, none after the rows that went out.
    assert relay.fitted == 3
