"""Reading order events and rejections off the wire, and folding them into table rows."""

from dataclasses import replace
from datetime import UTC, datetime

from orderstate.domain import OrderState, ReasonCode
from orderstate.events.envelope import encode_binary
from orderstate.events.examples import outbound_examples
from orderstate.events.outbound import RejectedOriginal, rejected_event
from orderstate.monitor.alerting import Change, OpenAlert
from orderstate.monitor.app import counted_as
from orderstate.monitor.records import order_event, rejection
from orderstate.monitor.watches import Fold, apply_changes, fold, watch_of


def _wire(type_name: str):  # type: ignore[no-untyped-def]
    event = outbound_examples()[type_name]
    headers, value = encode_binary(event)
    return event.key.encode(), value, headers


def test_an_event_time_after_its_record_was_published_counts_as_the_record_time() -> None:
    # A state change dated in the future (a typo in the year) moved the partition's clock
    # there, and every order on the partition was judged at that time: deadlines of orders
    # paid an hour before raised state_deadline and order_delayed at once, and stayed open.
    event_ms = 1_772_443_800_000
    published_ms = event_ms - 3_600_000
    capped = order_event(*_wire("order.state_changed"), record_ms=published_ms)
    kept = order_event(*_wire("order.state_changed"), record_ms=event_ms + 5)
    assert capped is not None and kept is not None
    assert (capped.occurred_ms, kept.occurred_ms) == (published_ms, event_ms)


def test_an_order_event_gives_what_the_monitor_needs() -> None:
    parsed = order_event(*_wire("order.state_changed"))
    assert parsed is not None
    assert (parsed.key, parsed.type, parsed.sequence, parsed.version) == (
        "shop-berlin:ORD-2026-000123",
        "order.state_changed",
        1,
        1,
    )
    assert (parsed.from_state, parsed.to_state, parsed.state) == (None, OrderState.NEW, "new")
    assert parsed.occurred_ms == 1_772_443_800_000
    assert parsed.promised_ms == int(datetime(2026, 3, 5, 18, tzinfo=UTC).timestamp() * 1000)
    assert (parsed.boarding_complete, parsed.deleted) == (False, False)


def test_a_record_without_the_fields_is_none() -> None:
    key, value, headers = _wire("order.state_changed")
    assert order_event(key, b"{}", headers) is None
    assert order_event(None, value, headers) is None
    assert order_event(key, value, [h for h in headers if h[0] != "ce_sequence"]) is None
    assert order_event(key, b"not json", headers) is None


def test_a_rejection_counts_at_the_rejected_events_own_time() -> None:
    key, value, headers = _wire("event.rejected")
    found = rejection(key, value, headers)
    assert found is not None
    assert (found.shop_id, found.reason) == ("shop-berlin", "state_not_settable")
    assert found.time_ms == int(datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp() * 1000)


def test_a_malformed_rejection_counts_when_it_was_rejected() -> None:
    event = rejected_event(
        shop_id="shop-1",
        order_id="unknown",
        reason=ReasonCode.MALFORMED,
        message="bad",
        original=RejectedOriginal(value="{broken", value_encoding="utf-8"),
        event_id="r-1",
        now=datetime(2026, 3, 2, 11, tzinfo=UTC),
    )
    headers, value = encode_binary(event)
    found = rejection(b"shop-1:unknown", value, headers)
    assert found is not None
    assert found.time_ms == int(datetime(2026, 3, 2, 11, tzinfo=UTC).timestamp() * 1000)


def test_fold_applies_newer_sequences_and_skips_the_rest() -> None:
    created = order_event(*_wire("order.state_changed"))
    linked = order_event(*_wire("order.shipment_linked"))
    assert created is not None and linked is not None
    row, outcome, gap = fold(None, created, 4)
    assert (outcome, gap) == (Fold.APPLIED, False)
    assert row is not None
    assert (row["s"], row["p"], row["a"], row["n"]) == (1, 4, {}, None)
    assert watch_of(row).state is OrderState.NEW
    assert fold(row, created, 4) == (None, Fold.DUPLICATE, False)
    # The example's shipment link is the order's 8th event: 2 to 7 were never seen.
    later, outcome, gap = fold(row, linked, 4)
    assert (outcome, gap) == (Fold.APPLIED, True)
    assert later is not None and later["s"] == 8


def test_apply_changes_records_raised_and_forgets_cleared_alerts() -> None:
    created = order_event(*_wire("order.state_changed"))
    assert created is not None
    row, _, _ = fold(None, created, 0)
    assert row is not None
    alert = OpenAlert("order_delayed", 10, 10, 12)
    raised = apply_changes(row, [Change("a-1", alert)], 99)
    assert (raised["a"], raised["n"]) == ({"a-1": ["order_delayed", 10, 10, 12]}, 99)
    assert row["a"] == {}
    cleared = apply_changes(raised, [Change("a-1", alert, because=None)], None)
    assert cleared["a"] == {"a-1": ["order_delayed", 10, 10, 12]}


def test_the_live_counts_count_every_creation_whatever_its_state() -> None:
    # Only a creation in `new` was counted as created; an order created as paid was not.
    created = order_event(*_wire("order.state_changed"))
    assert created is not None
    assert counted_as(created) == ["created"]
    as_paid = replace(created, to_state=OrderState.PAID, state=OrderState.PAID)
    as_shipped = replace(created, to_state=OrderState.SHIPPED, state=OrderState.SHIPPED)
    assert (counted_as(as_paid), counted_as(as_shipped)) == (["created"], ["created", "shipped"])
    shipped = replace(created, from_state=OrderState.PAID, to_state=OrderState.SHIPPED)
    paid = replace(created, from_state=OrderState.NEW, to_state=OrderState.PAID)
    linked = replace(created, from_state=None, to_state=None)
    assert (counted_as(shipped), counted_as(paid), counted_as(linked)) == (["shipped"], [], [])
