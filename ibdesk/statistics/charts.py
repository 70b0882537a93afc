"""Charts as geometry for SVG drawn on the server: no script, no network, prints as shown.

``bar_chart`` turns labelled values into rectangles, grid lines and tick labels in a fixed
coordinate box; a template (``statistics/_chart.html``) writes them out as SVG with
presentation attributes only (the Content-Security-Policy forbids inline styles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 240
# Room for the tick labels on the left and the month labels underneath.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 24, 12, 28
GAP = 0.25  # share of each slot left empty between bars


@dataclass(frozen=True)
class Bar:
    """One bar: its rectangle, its value and its label under the axis (if shown)."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    show_label: bool

    @property
    def centre(self) -> float:
        """Return the bar's horizontal middle (where its label goes)."""
        return self.x + self.width / 2


@dataclass(frozen=True)
class Tick:
    """One horizontal grid line and its value."""

    y: float
    value: int


@dataclass(frozen=True)
class BarChart:
    """A bar chart laid out in a ``width`` × ``height`` box."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    scale_max: int

    @property
    def total(self) -> int:
        """Return the sum of the values."""
        return sum(bar.value for bar in self.bars)

    @property
    def empty(self) -> bool:
        """Return whether every value is zero."""
        return all(bar.value == 0 for bar in self.bars)


def nice_step(raw: float) -> int:
    """Return the smallest whole 1, 2 or 5 times a power of ten that is at least ``raw``."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if step * power >= raw:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - 10 × power is always at least raw


def nice_scale(max_value: int, intervals: int = 4) -> tuple[int, int]:
    """Return (top of the scale, step between grid lines) for values up to ``max_value``."""
    step = nice_step(max(1, max_value) / intervals)
    return step * max(1, math.ceil(max_value / step)), step


def bar_chart(
    values: Sequence[tuple[str, int]],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    label_every: int = 3,
) -> BarChart:
    """Lay out one bar per (label, value); every ``label_every``-th label counted from the end."""
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    scale_max, step = nice_scale(max((v for _, v in values), default=0))
    slot = (right - left) / max(1, len(values))
    bar_width = slot * (1 - GAP)
    bars = []
    last = len(values) - 1
    for index, (label, value) in enumerate(values):
        bar_height = (bottom - top) * max(0, value) / scale_max
        bars.append(
            Bar(
                x=round(left + index * slot + (slot - bar_width) / 2, 2),
                y=round(bottom - bar_height, 2),
                width=round(bar_width, 2),
                height=round(bar_height, 2),
                label=label,
                value=value,
                show_label=(last - index) % label_every == 0,
            )
        )
    ticks = tuple(
        Tick(y=round(bottom - (bottom - top) * v / scale_max, 2), value=v)
        for v in range(0, scale_max + 1, step)
    )
    return BarChart(width, height, left, right, top, bottom, tuple(bars), ticks, scale_max)
