"""The monitor's state survives a SIGKILL (its faust tables come back from their changelogs),
and a replay of the order events from scratch gives the same alerts with the same ids.

These are the guards against the faust-streaming commit and duplicate bugs the design names
(README, "The order monitor"): redelivered batches (#502, #318) and duplicates on restart
(#517) must not make a second, different alert, and a commit past work that was not done
(#606) must not lose one."""

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from orderstate.events.alerts import alert_id
from tests.support.kafka import TopicNames, create_topics
from tests.support.monitor import (
    ManualClock,
    Order,
    Record,
    alerts_until,
    at,
    monitor_settings,
    published_count,
    running_monitor,
)
from tests.support.pipeline import Published, consume_until, produce, wait_for
from tests.support.processes import start

H = timedelta(hours=1)
DEADLINE = 48 * H


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def _alert_ids(url: str, *, open_: bool) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT alert_id FROM order_alerts WHERE (cleared_at IS NULL) = $1", open_
        )
    finally:
        await conn.close()
    return {r["alert_id"] for r in rows}


async def test_a_sigkilled_monitor_resumes_from_its_changelog(
    kafka_bootstrap: str, database_url: str, topics: TopicNames, tmp_path: Path
) -> None:
    """Kill -9 while it works through the orders; orders move on and new ones fall overdue
    while it is down; the restarted monitor raises every alert (none lost), clears the ones
    whose orders moved on, and every alert it publishes again has its first id."""
    settings = monitor_settings(
        kafka_bootstrap,
        database_url,
        topics,
        monitor_batch_max_events=20,
        kafka_session_timeout_ms=6000,
    )
    extra = {
        "ORDERSTATE_MONITOR_BATCH_MAX_EVENTS": "20",
        "ORDERSTATE_MONITOR_TICK_MS": "100",
        "ORDERSTATE_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "ORDERSTATE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    }
    # Paid half an hour apart, five days ago: every deadline has passed on the wall clock,
    # and the first ones already pass in event time while the monitor reads the rest.
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    orders = [Order(f"K-{n:03d}", shop_id="shop-k") for n in range(120)]
    first: list[Record] = []
    for n, order in enumerate(orders):
        paid = base + n * timedelta(minutes=30)
        first += order.create(paid) + order.to("paid", paid)
    await produce(kafka_bootstrap, topics.order_events, first)

    log = tmp_path / "monitor.log"
    process = start("monitor", settings, log, **extra)
    try:
        await consume_until(kafka_bootstrap, topics.alerts, lambda seen: len(seen) >= 1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

        # While it is down: 40 orders are prepared, 30 more are paid and overdue.
        later: list[Record] = []
        moved = orders[:40]
        for order in moved:
            later += order.to("in_preparation", datetime.now(UTC) - H)
        fresh = [Order(f"N-{n:03d}", shop_id="shop-k") for n in range(30)]
        for order in fresh:
            later += order.create(base) + order.to("paid", base)
        await produce(kafka_bootstrap, topics.order_events, later)

        process = start("monitor", settings, log, **extra)

        def due(order: Order, n_minutes: int) -> str:
            paid = base + timedelta(minutes=n_minutes)
            return alert_id("shop-k", order.order_id, "state_deadline.paid", _ms(paid + DEADLINE))

        cleared = {due(o, 30 * n) for n, o in enumerate(moved)}
        still_open = {due(o, 30 * n) for n, o in enumerate(orders) if o not in moved}
        still_open |= {due(o, 0) for o in fresh}

        async def settled() -> bool:
            return (
                await _alert_ids(database_url, open_=True) == still_open
                and await _alert_ids(database_url, open_=False) == cleared
            )

        try:
            await wait_for(settled, timeout_s=60)
        except TimeoutError:
            opened = await _alert_ids(database_url, open_=True)
            closed = await _alert_ids(database_url, open_=False)
            raise AssertionError(
                f"open: {len(opened - still_open)} unexpected, {len(still_open - opened)} "
                f"missing; cleared: {len(closed - cleared)} unexpected, "
                f"{len(cleared - closed)} missing\n{log.read_text()[-6000:]}"
            ) from None
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]

    published = await consume_until(
        kafka_bootstrap, topics.alerts, lambda seen: _kinds(seen, "alert.cleared") >= cleared
    )
    # Every alert was raised, under the id of (order, rule, deadline); a raise repeated after
    # the kill (at least once) has the same id, never another one.
    assert _kinds(published, "alert.raised") == still_open | cleared
    assert _kinds(published, "alert.cleared") == cleared


def _kinds(seen: list[Published], kind: str) -> set[str]:
    return {p.data["alert_id"] for p in seen if p.type == kind}


async def test_a_replay_from_scratch_gives_the_same_alerts_with_the_same_ids(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """A first monitor sees orders fall overdue (by its clock) and move on later; a second
    one, with its own group and empty tables, reads the same events at once. It raises and
    clears the same alerts: the deadlines passed before the events that moved the orders on."""
    clock = ManualClock(at(1))
    orders = [Order(f"R-{n}", shop_id="shop-r") for n in range(12)]
    records: list[Record] = []
    for n, order in enumerate(orders):
        records += order.create(at(0)) + order.to("paid", at(n / 10))
        if n % 3 == 0:
            records += order.ship(at(1))
    await produce(kafka_bootstrap, topics.order_events, records)
    first = monitor_settings(kafka_bootstrap, database_url, topics)
    async with running_monitor(first, clock=clock):
        clock.now = at(60)
        # Every order not shipped is overdue in paid: 8 alerts.
        await alerts_until(kafka_bootstrap, topics.alerts, 8)
        moves: list[Record] = []
        for order in orders[1::3]:
            moves += order.to("in_preparation", at(61))
        await produce(kafka_bootstrap, topics.order_events, moves)
        live = await alerts_until(kafka_bootstrap, topics.alerts, 12)

    # Named under the test's monitor prefix, so the topics fixture deletes it afterwards.
    replay_alerts = f"{topics.orders}.monitor-replay-alerts"
    await create_topics(kafka_bootstrap, [replay_alerts])
    second = monitor_settings(
        kafka_bootstrap,
        database_url,
        topics,
        monitor_group=f"{topics.orders}.monitor-replay",
        topic_alerts=replay_alerts,
    )
    async with running_monitor(second, clock=clock):
        replayed = await alerts_until(kafka_bootstrap, replay_alerts, 12)
        await asyncio.sleep(0.5)
        assert await published_count(kafka_bootstrap, replay_alerts) == 12
    assert len(live) == 12
    assert {(a.type, a.data["alert_id"]) for a in replayed} == {
        (a.type, a.data["alert_id"]) for a in live
    }
