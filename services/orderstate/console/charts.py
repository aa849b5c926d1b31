"""Bar charts as SVG geometry, computed on the server: the template draws the rectangles, so
the page needs no chart script and works without JavaScript. Each chart also has its numbers
as a table beside it, for screen readers and for reading exact values."""

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bar", "BarChart", "bar_chart"]


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    # The plot area's bottom edge, where bars stand and labels start.
    baseline: float
    maximum: int
    bars: list[Bar]


def bar_chart(
    values: Sequence[tuple[str, int]], *, width: int = 720, height: int = 200, gap: float = 2
) -> BarChart:
    """Vertical bars, one per value, scaled to the largest (at least 1, so an empty day
    draws flat bars rather than dividing by zero)."""
    top, bottom = 16.0, 28.0
    baseline = height - bottom
    plot = baseline - top
    maximum = max((v for _, v in values), default=0)
    scale = plot / max(maximum, 1)
    step = width / max(len(values), 1)
    bars = []
    for index, (label, value) in enumerate(values):
        bar_height = value * scale
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(index * step + gap / 2, 2),
                y=round(baseline - bar_height, 2),
                width=round(step - gap, 2),
                height=round(bar_height, 2),
            )
        )
    return BarChart(width=width, height=height, baseline=baseline, maximum=maximum, bars=bars)
