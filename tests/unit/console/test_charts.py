"""Bar charts drawn on the server (orderstate.console.charts)."""

from orderstate.console.charts import bar_chart


def test_bars_stand_on_the_baseline_and_the_tallest_fills_the_plot() -> None:
    chart = bar_chart([("00", 0), ("01", 5), ("02", 10)], width=300, height=200)
    assert [b.value for b in chart.bars] == [0, 5, 10]
    assert all(abs(b.y + b.height - chart.baseline) < 0.01 for b in chart.bars)
    assert chart.bars[2].height == 2 * chart.bars[1].height
    assert chart.bars[2].y == 16.0  # the top margin
    assert [b.x for b in chart.bars] == [1.0, 101.0, 201.0]
    assert chart.maximum == 10


def test_an_empty_day_draws_flat_bars() -> None:
    chart = bar_chart([("00", 0), ("01", 0)])
    assert [b.height for b in chart.bars] == [0, 0]
    assert chart.maximum == 0
