"""The monitor's time per partition: event time while behind, the clock once caught up."""

from orderstate.monitor.timekeeping import DueIndex, PartitionTime

CLOCK = 5_000_000


def _time() -> PartitionTime:
    return PartitionTime(lambda: CLOCK)


def test_no_time_before_anything_was_read() -> None:
    assert _time().now(0) is None


def test_stream_time_is_the_latest_event_time_read() -> None:
    time = _time()
    time.saw(0, 10, 1_000)
    time.saw(0, 11, 900)
    assert time.now(0) == 1_000


def test_the_clock_counts_once_everything_was_processed() -> None:
    time = _time()
    time.saw(0, 10, 1_000)
    time.update(0, highwater=12, position=None)
    assert time.now(0) == 1_000
    time.saw(0, 11, 1_100)
    time.update(0, highwater=12, position=None)
    assert time.now(0) == CLOCK


def test_a_batch_reads_event_time_only() -> None:
    time = _time()
    time.saw(0, 10, 1_000)
    time.update(0, highwater=11, position=None)
    time.reading(0)
    assert time.now(0) == 1_000


def test_an_idle_partition_needs_its_position_at_the_end_twice() -> None:
    """Records fetched but still in faust's buffers must not be judged by the clock."""
    time = _time()
    time.update(3, highwater=7, position=7)
    assert time.now(3) is None
    time.update(3, highwater=7, position=7)
    assert time.now(3) == CLOCK


def test_an_unknown_end_is_not_caught_up() -> None:
    time = _time()
    time.saw(0, 10, 1_000)
    time.update(0, highwater=None, position=None)
    assert time.now(0) == 1_000


def test_latest_is_the_furthest_partition() -> None:
    time = _time()
    time.saw(0, 1, 7_000_000)
    time.saw(1, 1, 1_000)
    assert time.latest() == 7_000_000


def test_forgotten_partitions_have_no_time() -> None:
    time = _time()
    time.saw(0, 1, 1_000)
    time.forget([0])
    assert time.now(0) is None


def test_the_due_index_hands_out_what_is_due_earliest_first() -> None:
    due = DueIndex()
    due.schedule(0, 30, "c")
    due.schedule(0, 10, "a")
    due.schedule(1, 5, "other partition")
    due.schedule(0, 20, "b")
    assert due.pop_due(0, 20) == [(10, "a"), (20, "b")]
    assert due.pop_due(0, 20) == []
    assert len(due) == 2
    due.forget([0])
    assert due.partitions() == [1]
