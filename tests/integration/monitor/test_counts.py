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


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_orders_and_rejections_are_counted_per_shop_and_hour(
    kafka_bootstrap: str, database_url: str, topics: TopicNames
) -> None:
    """Event time decides the hour: 09:xx counts in the current hour when the monitor's time
    is 09:54, 08:30 in the previous one; a rejection counts in its event's hour."""
    settings = monitor_settings(kafka_bootstrap, database_url, topics)
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
                    window="previous",
                )
                == 1
                and _gauge(
                    "orderstate_monitor_orders_per_hour",
                    shop_id="shop-c",
                    event="completed",
                    window="current",
                )
                == 1
            )

        await wait_for(counted, timeout_s=20)
        orders = {
            (event_, window): _gauge(
                "orderstate_monitor_orders_per_hour",
                shop_id="shop-c",
                event=event_,
                window=window,
            )
            for event_ in ("created", "shipped", "completed")
            for window in ("current", "previous")
        }
        rejections = _gauge(
            "orderstate_monitor_rejections_per_hour",
            shop_id="shop-c",
            reason="state_not_settable",
            window="current",
        )
        # The hour moves on with the clock: what was current becomes previous.
        clock.now += timedelta(hours=1)

        async def moved() -> bool:
            return (
                _gauge(
                    "orderstate_monitor_orders_per_hour",
                    shop_id="shop-c",
                    event="created",
                    window="previous",
                )
                == 3
            )

        await wait_for(moved, timeout_s=10)
    assert orders == {
        ("created", "current"): 3,
        ("created", "previous"): 1,
        ("shipped", "current"): 1,
        ("shipped", "previous"): None,
        ("completed", "current"): 1,
        ("completed", "previous"): None,
    }
    assert rejections == 2
