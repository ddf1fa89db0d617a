"""Geometry of the hold-out chart, drawn as inline SVG by the results page (no script, no inline style).

One chart per measure (purchase rate, revenue per customer): a bar for the messaged group, a bar for
the hold-out group, and below them the difference as a dot with its 95% interval against a zero line,
so a glance shows whether the interval crosses zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_core.automations.statistics import Interval

WIDTH = 640
LABEL_WIDTH = 190  # the row labels at the left
PLOT = WIDTH - LABEL_WIDTH - 90  # room at the right for the values
ROW = 34
HEIGHT = ROW * 3 + 34  # three rows and the difference's axis labels


@dataclass(frozen=True)
class Bar:
    y: int
    width: float
    value: str


@dataclass(frozen=True)
class DifferenceMarks:
    y: int
    zero: float
    low: float
    high: float
    estimate: float
    low_text: str
    high_text: str
    direction: str  # up, down, unclear (the CSS class colours the interval)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    plot: int
    bars: tuple[Bar, Bar]
    difference: DifferenceMarks | None


def chart(*, messaged: float, held_out: float, difference: Interval | None, show, show_difference) -> Chart:
    """Positions for the two groups' values and the difference's interval; `show` formats a value."""
    top = max(messaged, held_out, 0) or 1
    bars = (
        Bar(y=8, width=round(PLOT * max(messaged, 0) / top, 1), value=show(messaged)),
        Bar(y=8 + ROW, width=round(PLOT * max(held_out, 0) / top, 1), value=show(held_out)),
    )
    marks = None
    if difference is not None:
        reach = max(abs(difference.low), abs(difference.high), abs(difference.estimate)) * 1.1 or 1
        centre = LABEL_WIDTH + PLOT / 2

        def x(value: float) -> float:
            return round(centre + (PLOT / 2) * value / reach, 1)

        marks = DifferenceMarks(
            y=8 + 2 * ROW + 9,
            zero=x(0),
            low=x(difference.low),
            high=x(difference.high),
            estimate=x(difference.estimate),
            low_text=show_difference(difference.low),
            high_text=show_difference(difference.high),
            direction=difference.direction,
        )
    return Chart(WIDTH, HEIGHT, LABEL_WIDTH, PLOT, bars, marks)
