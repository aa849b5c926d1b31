"""The backfill flag on outbound order events: on an imported order's events, and nowhere
else, so every live event keeps the shape it always had."""

from datetime import UTC, datetime

from orderstate.domain import OrderFields, OrderState, OrderView, StateChanged
from orderstate.events.outbound import StateChangedOut, outbound_event_data, snapshot_data

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VIEW = OrderView(
    shop_id="shop-1",
    order_id="o-1",
    fields=OrderFields(order_date=datetime(2025, 6, 1, 9, 0, tzinfo=UTC)),
    state=OrderState.PAID,
    version=1,
    created_at=NOW,
    updated_at=NOW,
)


def data_of(fact: StateChanged) -> dict[str, object]:
    event = outbound_event_data(
        fact,
        snapshot_data(VIEW),
        event_id="e-1",
        time="2026-12-01T12:00:00Z",
        view=VIEW,
        sequence=1,
    )
    data: dict[str, object] = event["data"]
    return data


def fact(**extra: bool) -> StateChanged:
    return StateChanged(
        version=1,
        cause_event_id="c-1",
        occurred_at=NOW,
        from_state=None,
        to_state=OrderState.PAID,
        **extra,
    )


def test_an_imported_orders_event_says_backfill() -> None:
    data = data_of(fact(backfill=True))

    assert data["backfill"] is True
    assert StateChangedOut.model_validate(data).backfill is True


def test_a_live_event_leaves_the_flag_out() -> None:
    data = data_of(fact())

    assert "backfill" not in data
    assert StateChangedOut.model_validate(data).backfill is False
