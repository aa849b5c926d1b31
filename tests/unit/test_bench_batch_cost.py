"""bench/batch_cost.py splits a batch's cost into a part per batch and a part per event by a
straight line through the sizes."""

import sys
from pathlib import Path

import pytest

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from batch_cost import Turn, _mean, fit


def test_fit_gives_back_the_fixed_and_per_event_cost_of_a_straight_line() -> None:
    sizes = [1, 2, 5, 10, 25]

    fixed, per_event = fit(sizes, [4_000 + 500 * n for n in sizes])

    assert fixed == pytest.approx(4_000)
    assert per_event == pytest.approx(500)


def test_fit_takes_the_least_squares_line_through_scattered_costs() -> None:
    fixed, per_event = fit([1, 2, 3], [1.0, 3.0, 2.0])

    assert fixed == pytest.approx(1.0)
    assert per_event == pytest.approx(0.5)


def _turn(decode: float, per_statement: dict[str, tuple[float, float, float, float]]) -> Turn:
    return Turn(
        size=5,
        batches=600,
        statements=14.0,
        decode=decode,
        python=2_000.0,
        asyncpg=2_500.0,
        server=3_000.0,
        server_others=10.0,
        apply_wall=9_000.0,
        per_statement=per_statement,
    )


def test_the_rounds_of_a_size_are_averaged_and_a_missing_statement_counts_no_calls() -> None:
    first = _turn(
        800.0, {"BEGIN": (1.0, 140.0, 60.0, 200.0), "insert_parked": (0.2, 300.0, 200.0, 500.0)}
    )
    second = _turn(1_000.0, {"BEGIN": (1.0, 160.0, 80.0, 220.0)})

    mean = _mean([first, second])

    assert mean.decode == pytest.approx(900.0)
    assert mean.worker == pytest.approx(900.0 + 2_000.0 + 2_500.0)
    assert mean.per_statement["BEGIN"] == pytest.approx((1.0, 150.0, 70.0, 210.0))
    # Made in one round of two: half its calls per batch, its own cost per call.
    assert mean.per_statement["insert_parked"] == pytest.approx((0.1, 300.0, 200.0, 500.0))
