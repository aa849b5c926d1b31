"""The moving window of failed authentications: per key, bounded in time and in memory."""

from orderstate.api.auth_limits import FailureWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_held_back_after_limit_failures_until_the_oldest_ages_out() -> None:
    clock = Clock()
    window = FailureWindow(3, window_s=60, clock=clock)
    for step in (0, 10, 20):
        clock.now = 1000 + step
        assert window.wait_s("a") is None
        window.add("a")
    assert window.wait_s("a") == 40  # the failure at 1000 leaves the window at 1060
    assert window.wait_s("b") is None
    clock.now = 1060
    assert window.wait_s("a") is None
    window.add("a")  # 1010, 1020, 1060: the next slot frees at 1070
    assert window.wait_s("a") == 10


def test_memory_stays_bounded_and_stale_keys_go_first() -> None:
    clock = Clock()
    window = FailureWindow(2, window_s=60, max_keys=100, clock=clock)
    for n in range(100):
        window.add(f"old-{n}")
    clock.now += 61
    for n in range(500):
        window.add(f"new-{n}")
    assert len(window.failures) <= 100
    assert not [k for k in window.failures if k.startswith("old-")]
    # The latest keys are kept: they are the ones still failing.
    assert "new-499" in window.failures
