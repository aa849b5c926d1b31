"""Live counts per shop and hour from the monitor's windowed table, on its /metrics."""

from datetime import timedelta

from prometheus_client import REGISTRY

from orderstate.domain import ReasonCode
from orderstate.events.envelope import encode_binary
from orderstate.events.outbound import RejectedOriginal, rejected_event
from tests.support.events import event
from tests.support.kafka import TopicNames
from tests.support.monitor import ManualClock, Order, at, monitor_settings, running_monitor
from tests.support.pipeline import produce, wait_for


def _rejection(reason: ReasonCode, minutes: float) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    original = event(
        "order.state_changed",
        {"state": "shipped", "occurred_at": at(minutes / 60).isoformat()},
        shop="shop-c",
        order="C-9",
        minutes=minutes,
    )
    rejected = rejected_event(
        shop_id="shop-c",
        order_id="C-9",
        reason=reason,
        message="no",
        original=RejectedOriginal(value=original.model_dump_json(exclude_none=True)),
        event_id=f"rej-{minutes}",
        now=at(5),
    )
    headers, value = encode_binary(rejected)
    return b"shop-c:C-9", value, headers


EIGHT, NINE = "2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z"


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_orders_and_rejections_are_counted_per_shop_and_hour(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """Event time decides the hour: 09:xx counts in 09:00, 08:30 in 08:00; a rejection counts
    in its event's hour; hours older than ORDERSTATE_MONITOR_COUNT_HOURS go."""
    settings = monitor_settings(kafka_bootstrap, database_url, topics, monitor_count_hours=2)
    records = []
    early = Order("C-0", shop_id="shop-c")
    records += early.create(at(-0.5))
    for n in range(1, 4):
        order = Order(f"C-{n}", shop_id="shop-c")
        records += order.create(at(n / 10), boarding_complete=True)
        if n == 1:
            records += order.ship(at(0.5))
            records += order.change(
                "shipment.status_changed", {"shipment_id": "S1", "status": "delivered"}, at(0.6)
            )
    await produce(kafka_bootstrap, topics.order_events, records)
    await produce(
        kafka_bootstrap,
        topics.rejected,
        [
            _rejection(ReasonCode.STATE_NOT_SETTABLE, 10),
            _rejection(ReasonCode.STATE_NOT_SETTABLE, 20),
            _rejection(ReasonCode.ORDER_CLOSED, -40),
        ],
    )
    clock = ManualClock(at(0.9))
    async with running_monitor(settings, clock=clock):

        async def counted() -> bool:
            return (
                _gauge(
                    "orderstate_monitor_rejections_per_hour",
                    shop_id="shop-c",
                    reason="order_closed",
                    hour=EIGHT,
                )
                == 1
                and _gauge(
                    "orderstate_monitor_orders_per_hour",
                    shop_id="shop-c",
                    event="completed",
                    hour=NINE,
                )
                == 1
            )

        await wait_for(counted, timeout_s=20)
        orders = {
            (event_, hour): _gauge(
                "orderstate_monitor_orders_per_hour", shop_id="shop-c", event=event_, hour=hour
            )
            for event_ in ("created", "shipped", "completed")
            for hour in (EIGHT, NINE)
        }
        rejections = _gauge(
            "orderstate_monitor_rejections_per_hour",
            shop_id="shop-c",
            reason="state_not_settable",
            hour=NINE,
        )
        # Two hours are kept: at 10:xx the 08:00 hour goes.
        clock.now += timedelta(hours=1)

        async def moved() -> bool:
            old = {"shop_id": "shop-c", "event": "created", "hour": EIGHT}
            return _gauge("orderstate_monitor_orders_per_hour", **old) is None

        await wait_for(moved, timeout_s=10)
    assert orders == {
        ("created", NINE): 3,
        ("created", EIGHT): 1,
        ("shipped", NINE): 1,
        ("shipped", EIGHT): None,
        ("completed", NINE): 1,
        ("completed", EIGHT): None,
    }
    assert rejections == 2
