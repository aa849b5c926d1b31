"""bench/batch_cost.py splits a batch's cost into a part per batch and a part per event by a
straight line through the sizes."""

import sys
from pathlib import Path

import pytest

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from batch_cost import fit


def test_fit_gives_back_the_fixed_and_per_event_cost_of_a_straight_line() -> None:
    sizes = [1, 2, 5, 10, 25]

    fixed, per_event = fit(sizes, [4_000 + 500 * n for n in sizes])

    assert fixed == pytest.approx(4_000)
    assert per_event == pytest.approx(500)


def test_fit_takes_the_least_squares_line_through_scattered_costs() -> None:
    fixed, per_event = fit([1, 2, 3], [1.0, 3.0, 2.0])

    assert fixed == pytest.approx(1.0)
    assert per_event == pytest.approx(0.5)
