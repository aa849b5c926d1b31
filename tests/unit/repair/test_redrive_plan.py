"""Which kept rejections `orderstate redrive` can append again, and as what."""

import json
from datetime import UTC, datetime

from orderstate.events.envelope import API_SOURCE, CloudEvent
from orderstate.events.outbound import RejectedOriginal
from orderstate.events.topics import TopicRole
from orderstate.repair.redrive_plan import (
    Candidate,
    Exclusion,
    plan_redrives,
    redrive_id,
)
from tests.support.events import event, shipment, state

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _candidate(
    ev: CloudEvent, n: int, *, reason: str = "transition_not_allowed", **kept: object
) -> Candidate:
    original = RejectedOriginal(
        key=ev.key,
        value=ev.model_dump_json(exclude_none=True),
        event_id=ev.id,
        event_type=ev.type,
    ).model_dump()
    original.update(kept)
    return Candidate(
        rejection_id=n,
        shop_id=ev.shopid,
        order_id=ev.orderid,
        source=ev.source,
        event_id=ev.id,
        reason=reason,
        original_json=json.dumps(original),
        rejected_at=AT,
        expired=False,
    )


def test_the_redriven_event_is_the_rejected_one_with_a_derived_id() -> None:
    rejected = state("in_preparation", minutes=5)

    (redrive,), excluded = plan_redrives([_candidate(rejected, 1)], include_api=False)

    assert excluded == []
    assert redrive.original == rejected
    assert redrive.event.id == redrive_id(rejected.source, rejected.id)
    assert redrive.event.id != rejected.id
    assert redrive.event.redriveof == rejected.id
    assert redrive.event.model_dump(exclude={"id", "redriveof"}) == rejected.model_dump(
        exclude={"id", "redriveof"}
    )
    assert redrive.topic_role is TopicRole.ORDERS_IN
    # decide() sees the original event time, and the new id as the cause.
    assert redrive.change.occurred_at == rejected.time
    assert redrive.change.event_id == redrive.event.id


def test_the_id_is_the_same_on_every_run_and_differs_per_event_and_source() -> None:
    assert redrive_id("urn:shop", "evt-1") == redrive_id("urn:shop", "evt-1")
    assert redrive_id("urn:shop", "evt-1") != redrive_id("urn:shop", "evt-2")
    assert redrive_id("urn:shop", "evt-1") != redrive_id("urn:other", "evt-1")
    # Redriving a redriven event that was rejected again gives yet another id.
    once = redrive_id("urn:shop", "evt-1")
    assert redrive_id("urn:shop", once) not in {once, "evt-1"}


def test_what_cannot_or_will_not_be_redriven_is_left_out_with_why() -> None:
    malformed = _candidate(state("paid"), 1, reason="malformed")
    truncated = _candidate(state("paid"), 2, headers={"x-orderstate-truncated": "cut"})
    undecodable = _candidate(state("paid"), 3, value='{"specversion": "1.0"}')
    rest = _candidate(
        event(
            "order.state_changed",
            {"state": "paid", "occurred_at": AT.isoformat()},
            source=API_SOURCE,
        ),
        4,
    )
    twice = state("paid", minutes=9)

    redrives, excluded = plan_redrives(
        [malformed, truncated, undecodable, rest, _candidate(twice, 5), _candidate(twice, 6)],
        include_api=False,
    )

    assert [r.original.id for r in redrives] == [twice.id]
    assert [(e.candidate.rejection_id, e.why) for e in excluded] == [
        (1, Exclusion.MALFORMED),
        (2, Exclusion.TRUNCATED),
        (3, Exclusion.UNDECODABLE),
        (4, Exclusion.REST),
        (6, Exclusion.REPEATED),
    ]


def test_rest_rejections_are_redriven_when_asked() -> None:
    rest = event(
        "order.state_changed", {"state": "paid", "occurred_at": AT.isoformat()}, source=API_SOURCE
    )

    (redrive,), excluded = plan_redrives([_candidate(rest, 1)], include_api=True)

    assert excluded == []
    assert redrive.event.source == API_SOURCE


def test_events_go_out_in_event_time_order_each_to_its_topic() -> None:
    late_state = state("in_preparation", minutes=30)
    early_shipment = shipment("S1")  # at T0

    redrives, _ = plan_redrives(
        [_candidate(late_state, 1), _candidate(early_shipment, 2, reason="unknown_order")],
        include_api=False,
    )

    assert [(r.original.id, r.topic_role) for r in redrives] == [
        (early_shipment.id, TopicRole.SHIPMENTS_IN),
        (late_state.id, TopicRole.ORDERS_IN),
    ]
