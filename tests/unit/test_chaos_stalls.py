"""How the fault-injection report measures how long partitions stood still after a fault
(tests/chaos/observe.py): pure arithmetic on sampled offsets, no services."""

from tests.chaos.observe import Sample, stalls

TP = ("shop.orders.v1", 0)


def _samples(points: list[tuple[float, int, int]]) -> list[Sample]:
    return [Sample(at, {TP: (done, end)}) for at, done, end in points]


def test_a_commit_right_after_the_fault_does_not_hide_the_standstill_behind_it() -> None:
    """A frozen worker's last batch commits 0.1 s after the SIGSTOP; the partition then stands
    still until another worker owns it, 10 s later."""
    samples = _samples(
        [
            (9.9, 100, 150),  # the fault comes at 10.0
            (10.1, 150, 200),  # the batch sent before the fault commits
            *[(10.1 + 0.25 * n, 150, 200 + n) for n in range(1, 40)],
            (20.2, 260, 300),  # the partition's new owner applies
            (20.5, 300, 320),
        ]
    )
    (longest,) = stalls(samples, at=10.0, until=40.0)
    assert 10.0 <= longest <= 10.2


def test_a_partition_caught_up_at_the_fault_waits_from_its_next_record() -> None:
    samples = _samples([(9.9, 100, 100), (10.2, 100, 100), (12.0, 100, 110), (15.0, 110, 110)])
    assert stalls(samples, at=10.0, until=40.0) == [3.0]


def test_a_partition_without_records_in_the_window_is_not_counted() -> None:
    samples = _samples([(9.9, 100, 100), (10.5, 100, 100), (11.0, 100, 100)])
    assert stalls(samples, at=10.0, until=40.0) == []


def test_a_standstill_still_going_at_the_window_end_counts_to_the_end() -> None:
    samples = _samples([(9.9, 100, 120), (20.0, 100, 130), (30.0, 100, 140)])
    assert stalls(samples, at=10.0, until=30.0) == [20.0]
