"""DeliveryWatch: which partitions faust read past records it never handed to the agent."""

from orderstate.monitor.delivery import DeliveryWatch


def test_nothing_is_compared_until_nothing_was_delivered_for_the_quiet_time() -> None:
    watch: DeliveryWatch[int] = DeliveryWatch(quiet_s=5)
    watch.got(0, 9, now_s=100)
    assert not watch.quiet(104.9)
    assert watch.quiet(105)


def test_a_position_past_the_last_delivered_record_is_read_again_from_after_it() -> None:
    watch: DeliveryWatch[int] = DeliveryWatch(quiet_s=5)
    watch.got(0, 9, now_s=1)
    watch.got(0, 7, now_s=1)
    watch.got(1, 3, now_s=1)
    assert watch.skipped({0: 10, 1: 4}) == {}
    assert watch.skipped({0: 25, 1: 4}) == {0: 10}


def test_before_any_delivery_the_committed_offset_is_the_start() -> None:
    watch: DeliveryWatch[int] = DeliveryWatch(quiet_s=5)
    watch.got(0, 9, now_s=1)
    positions: dict[int, int | None] = {0: 10, 1: 40, 2: None}
    assert watch.without_start(positions) == [1]
    assert watch.skipped(positions) == {}
    watch.committed[1] = 30
    assert watch.without_start(positions) == []
    assert watch.skipped(positions) == {1: 30}
    assert watch.skipped({1: 30}) == {}


def test_an_assignment_forgets_what_was_delivered_and_committed() -> None:
    watch: DeliveryWatch[int] = DeliveryWatch(quiet_s=5)
    watch.got(0, 9, now_s=1)
    watch.committed[1] = 30
    watch.assigned(now_s=50)
    assert watch.without_start({0: 10, 1: 30}) == [0, 1]
    assert not watch.quiet(54)
