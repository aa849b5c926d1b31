"""The order monitor on the real broker and database: alerts raised when a deadline passes,
cleared when the order moves on, per-shop rules, parked shipments, duplicates.

The monitor runs in the test's event loop with a clock the test sets; the order events are the
ones the relay would publish (tests.support.monitor.Order drives ``decide``)."""

import asyncio
from datetime import timedelta

import asyncpg

from orderstate import metrics
from orderstate.domain import load_policy_book
from orderstate.events.alerts import alert_id
from tests.support.kafka import TopicNames
from tests.support.monitor import (
    ManualClock,
    Order,
    RunningMonitor,
    alerts_until,
    at,
    monitor_settings,
    published_count,
    running_monitor,
)
from tests.support.pipeline import produce, wait_for

H = timedelta(hours=1)


def ms(moment: object) -> int:
    return int(moment.timestamp() * 1000)  # type: ignore[attr-defined]


async def processed(running: RunningMonitor, order: Order) -> None:
    """Wait until the monitor has applied every event of ``order`` produced so far."""
    key = f"{order.shop_id}:{order.order_id}"

    async def done() -> bool:
        row = running.monitor.watches.data.get(key)
        return row is not None and row["s"] >= order.sequence

    await wait_for(done, timeout_s=30)


async def rows(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch("SELECT * FROM order_alerts ORDER BY raised_at, rule"))
    finally:
        await conn.close()


async def test_a_deadline_raises_when_it_passes_and_clears_when_the_order_moves_on(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """paid within 48 h: nothing a minute before, alert.raised at the deadline, with the id of
    (order, rule, deadline); alert.cleared when the order is prepared."""
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
    clock = ManualClock(at(1))
    order = Order("ORD-1")
    await produce(
        kafka_bootstrap, topics.order_events, order.create(at(0)) + order.to("paid", at(0.5))
    )
    due = at(0.5) + 48 * H
    async with running_monitor(settings, clock=clock) as running:
        await processed(running, order)
        clock.now = due - timedelta(minutes=1)
        await _ticks(running)
        assert await published_count(kafka_bootstrap, topics.alerts) == 0

        clock.now = due + timedelta(seconds=30)
        [raised] = await alerts_until(kafka_bootstrap, topics.alerts, 1)
        assert raised.type == "alert.raised"
        assert raised.key == "shop-1:ORD-1"
        assert raised.headers["ce_subject"] == "state_deadline.paid"
        assert raised.data == {
            "alert_id": alert_id("shop-1", "ORD-1", "state_deadline.paid", ms(due)),
            "rule": "state_deadline.paid",
            "order_id": "ORD-1",
            "state": "paid",
            "since": "2026-03-02T09:30:00Z",
            "deadline": "2026-03-04T09:30:00Z",
            "raised_at": "2026-03-04T09:30:30Z",
            "order_version": 2,
        }

        await produce(kafka_bootstrap, topics.order_events, order.to("in_preparation", due + H))
        _, cleared = await alerts_until(kafka_bootstrap, topics.alerts, 2)
        assert cleared.type == "alert.cleared"
        assert cleared.data["alert_id"] == raised.data["alert_id"]
        assert cleared.data["cleared_because"] == "moved_on"
        assert cleared.data["state"] == "in_preparation"

        async def stored() -> bool:
            found = await rows(database_url)
            return len(found) == 1 and found[0]["cleared_at"] is not None

        await wait_for(stored, timeout_s=10)
    [row] = await rows(database_url)
    assert (row["shop_id"], row["order_id"], row["rule"]) == (
        "shop-1",
        "ORD-1",
        "state_deadline.paid",
    )
    assert row["alert_id"] == raised.data["alert_id"]
    assert row["cleared_because"] == "moved_on"


async def test_order_delayed_until_it_is_completed(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """promised_delivery_date passed and not completed: order_delayed; delivery completes the
    order (boarding complete, every parcel delivered) and clears it."""
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
    promised = at(24)
    clock = ManualClock(at(3))
    order = Order("ORD-LATE")
    await produce(
        kafka_bootstrap,
        topics.order_events,
        order.create(at(0), promised_delivery_date=promised.isoformat(), boarding_complete=True)
        + order.ship(at(2)),
    )
    async with running_monitor(settings, clock=clock) as running:
        await processed(running, order)
        clock.now = promised + timedelta(minutes=5)
        [raised] = await alerts_until(kafka_bootstrap, topics.alerts, 1)
        assert raised.data["rule"] == "order_delayed"
        assert raised.data["alert_id"] == alert_id(
            "shop-1", "ORD-LATE", "order_delayed", ms(promised)
        )
        assert raised.data["state"] == "shipped"

        delivered = order.change(
            "shipment.status_changed", {"shipment_id": "S1", "status": "delivered"}, at(30)
        )
        await produce(kafka_bootstrap, topics.order_events, delivered)
        _, cleared = await alerts_until(kafka_bootstrap, topics.alerts, 2)
    assert cleared.type == "alert.cleared"
    assert cleared.data["alert_id"] == raised.data["alert_id"]
    assert cleared.data["state"] == "completed"
    assert cleared.data["cleared_because"] == "moved_on"


async def test_each_shop_is_judged_by_its_own_rules(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """shop-express must prepare paid orders within 4 hours, everyone else within 48."""
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
    policies = load_policy_book(
        {"alerts": {"shops": {"shop-express": {"state_deadlines": {"paid": "4h"}}}}}
    )
    clock = ManualClock(at(1))
    express, standard = Order("E-1", shop_id="shop-express"), Order("S-1", shop_id="shop-1")
    records = []
    for order in (express, standard):
        records += order.create(at(0)) + order.to("paid", at(0))
    await produce(kafka_bootstrap, topics.order_events, records)
    async with running_monitor(settings, clock=clock, policies=policies) as running:
        await processed(running, express)
        await processed(running, standard)
        clock.now = at(5)
        [first] = await alerts_until(kafka_bootstrap, topics.alerts, 1)
        assert (first.key, first.data["deadline"]) == (
            "shop-express:E-1",
            "2026-03-02T13:00:00Z",
        )
        await _ticks(running)
        assert await published_count(kafka_bootstrap, topics.alerts) == 1
        clock.now = at(49)
        both = await alerts_until(kafka_bootstrap, topics.alerts, 2)
    assert {(a.key, a.data["deadline"]) for a in both} == {
        ("shop-express:E-1", "2026-03-02T13:00:00Z"),
        ("shop-1:S-1", "2026-03-04T09:00:00Z"),
    }


async def test_boarding_still_open_three_days_after_shipping(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
    clock = ManualClock(at(1))
    order = Order("ORD-B")
    await produce(kafka_bootstrap, topics.order_events, order.create(at(0)) + order.ship(at(1)))
    async with running_monitor(settings, clock=clock) as running:
        await processed(running, order)
        clock.now = at(1) + 72 * H
        [raised] = await alerts_until(kafka_bootstrap, topics.alerts, 1)
        assert raised.data["rule"] == "boarding_open"
        assert raised.data["since"] == "2026-03-02T10:00:00Z"
        boarded = order.change(
            "order.boarding_completed", {"boarding_complete": True}, at(1) + 73 * H
        )
        await produce(kafka_bootstrap, topics.order_events, boarded)
        _, cleared = await alerts_until(kafka_bootstrap, topics.alerts, 2)
    assert (cleared.type, cleared.data["alert_id"]) == ("alert.cleared", raised.data["alert_id"])


async def test_a_shipment_parked_too_long_is_read_from_postgresql(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """The worker parks shipments for unknown orders in parked_events; the monitor raises
    parked_too_long after an hour and clears it once nothing waits for the order."""
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
    clock = ManualClock(at(2))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO parked_events (source, event_id, shop_id, order_id, topic_role, event, "
            "parked_at, due_ms) VALUES ('urn:wh', 'p-1', 'shop-1', 'NOT-YET', 'shipments_in', "
            "'{}'::jsonb, $1, 0)",
            at(0.5),
        )
        async with running_monitor(settings, clock=clock):
            [raised] = await alerts_until(kafka_bootstrap, topics.alerts, 1)
            assert raised.key == "shop-1:NOT-YET"
            assert raised.data["rule"] == "parked_too_long"
            assert (raised.data["since"], raised.data["deadline"]) == (
                "2026-03-02T09:30:00Z",
                "2026-03-02T10:30:00Z",
            )
            assert raised.data["state"] is None
            await conn.execute("DELETE FROM parked_events")
            _, cleared = await alerts_until(kafka_bootstrap, topics.alerts, 2)
            assert cleared.data["cleared_because"] == "unparked"
    finally:
        await conn.close()


async def test_redelivered_order_events_change_nothing(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """At least once: the same events again (a rebalance, faust-streaming #502) are skipped on
    their sequence; the alert is raised once."""
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
    clock = ManualClock(at(60))
    order = Order("ORD-DUP")
    records = order.create(at(0)) + order.to("paid", at(1))
    duplicates = metrics.MONITOR_EVENTS.labels("duplicate")._value.get()
    await produce(kafka_bootstrap, topics.order_events, records + records)
    async with running_monitor(settings, clock=clock) as running:
        await processed(running, order)
        await alerts_until(kafka_bootstrap, topics.alerts, 1)

        async def skipped() -> bool:
            return bool(metrics.MONITOR_EVENTS.labels("duplicate")._value.get() == duplicates + 2)

        await wait_for(skipped, timeout_s=10)
        await _ticks(running)
    assert await published_count(kafka_bootstrap, topics.alerts) == 1


async def _ticks(running: RunningMonitor, n: int = 3) -> None:
    """Long enough for ``n`` deadline checks (ORDERSTATE_MONITOR_TICK_MS is 100 in tests)."""
    await asyncio.sleep(n * running.monitor.settings.monitor_tick_ms / 1000 + 0.2)
