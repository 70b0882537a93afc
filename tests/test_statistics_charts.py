"""Server-drawn charts: scales people can read, bars that are true to their values."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from ibdesk.statistics import charts


@given(st.integers(min_value=0, max_value=10**12))
def test_the_scale_covers_every_value_with_round_steps(top: int) -> None:
    scale_max, step = charts.nice_scale(top)
    assert scale_max >= top and scale_max % step == 0
    assert 1 <= scale_max // step <= 5  # a handful of grid lines, never dozens
    power = 10 ** math.floor(math.log10(step))
    assert step // power in (1, 2, 5) and step % power == 0  # 1, 2 or 5 times 10^n


def test_scales_for_the_numbers_a_clinic_sees() -> None:
    assert charts.nice_scale(0) == (1, 1)
    assert charts.nice_scale(3) == (3, 1)
    assert charts.nice_scale(7) == (8, 2)
    assert charts.nice_scale(240) == (300, 100)
    assert charts.nice_scale(12_345) == (15_000, 5_000)


def test_bars_are_proportional_and_stay_inside_the_plot() -> None:
    months = [
        (f"2025-{m:02d}", v)
        for m, v in zip(range(1, 13), [0, 5, 10, 15, 20] + [1] * 7, strict=True)
    ]
    chart = charts.bar_chart(months)
    assert chart.scale_max == 20 and chart.total == 57 and not chart.empty
    plot_height = chart.bottom - chart.top
    tallest = next(bar for bar in chart.bars if bar.value == 20)
    assert tallest.y == chart.top and tallest.height == plot_height
    empty = chart.bars[0]
    assert empty.height == 0 and empty.y == chart.bottom
    half = next(bar for bar in chart.bars if bar.value == 10)
    assert half.height == plot_height / 2
    for bar in chart.bars:
        assert chart.left <= bar.x and bar.x + bar.width <= chart.right
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert [t.value for t in chart.ticks] == [0, 5, 10, 15, 20]
    assert chart.ticks[0].y == chart.bottom and chart.ticks[-1].y == chart.top


def test_every_third_month_is_labelled_ending_with_the_latest() -> None:
    chart = charts.bar_chart([(f"m{i}", i) for i in range(24)])
    labelled = [bar.label for bar in chart.bars if bar.show_label]
    assert labelled[-1] == "m23" and len(labelled) == 8
    assert labelled == [f"m{i}" for i in range(2, 24, 3)]


def test_an_empty_chart_says_so_and_still_has_a_scale() -> None:
    chart = charts.bar_chart([("2026-01", 0), ("2026-02", 0)])
    assert chart.empty and chart.scale_max == 1
    assert all(bar.height == 0 for bar in chart.bars)
