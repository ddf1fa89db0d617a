"""Hold-out statistics: 95% confidence intervals for a difference of purchase rates and of revenue per customer.

Pure functions over counts and sums, no database. The purchase-rate difference uses Newcombe's hybrid
score interval (his method 10: Wilson score intervals for each group, combined), which stays inside
[-1, 1] and behaves with the small counts and rates near zero a shop sees. The revenue difference
uses Welch's t interval (unequal variances, Welch-Satterthwaite degrees of freedom); the Student t
quantile is computed here from the regularised incomplete beta function, so no SciPy is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class Interval:
    """An estimate and its two-sided 95% confidence interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def direction(self) -> str:
        """`up` (the whole interval above zero), `down` (below), or `unclear` (it straddles zero)."""
        if self.low > 0:
            return "up"
        if self.high < 0:
            return "down"
        return "unclear"


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """Wilson's score interval for a proportion (`trials` > 0)."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError("need 0 <= successes <= trials and trials > 0")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def proportion_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> Interval:
    """p1 - p2 with Newcombe's hybrid score interval (method 10, 1998); None-free: needs n1, n2 > 0."""
    first, second = wilson(x1, n1, z), wilson(x2, n2, z)
    p1, p2 = first.estimate, second.estimate
    difference = p1 - p2
    low = difference - math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    high = difference + math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    return Interval(difference, low, high)


@dataclass(frozen=True)
class Sample:
    """A group's size, and the sum and sum of squares of its values (integers: yen)."""

    n: int
    total: int
    squares: int

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> Fraction:
        """The unbiased sample variance, exact (integers in, a fraction out)."""
        if self.n < 2:
            raise ValueError("a variance needs two values")
        return Fraction(self.n * self.squares - self.total * self.total, self.n * (self.n - 1))


def welch_difference(first: Sample, second: Sample, level: float = 0.95) -> Interval | None:
    """mean1 - mean2 with Welch's t interval; None when a group has fewer than two values."""
    if first.n < 2 or second.n < 2:
        return None
    a = first.variance / first.n
    b = second.variance / second.n
    difference = first.mean - second.mean
    if a + b == 0:  # every value equal within each group: nothing varies, the difference is exact
        return Interval(difference, difference, difference)
    degrees = float((a + b) ** 2 / (a * a / (first.n - 1) + b * b / (second.n - 1)))
    half = t_quantile(1 - (1 - level) / 2, degrees) * math.sqrt(float(a + b))
    return Interval(difference, difference - half, difference + half)


def t_quantile(probability: float, degrees: float) -> float:
    """The Student t distribution's quantile (0.5 < probability < 1), for any degrees of freedom > 0."""
    if not 0.5 < probability < 1 or degrees <= 0:
        raise ValueError("need 0.5 < probability < 1 and degrees > 0")
    low, high = 0.0, 1.0
    while t_cdf(high, degrees) < probability:
        low, high = high, high * 2
    for _ in range(200):  # bisection: monotone, and exact to double precision well before 200 halvings
        middle = (low + high) / 2
        if t_cdf(middle, degrees) < probability:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def t_cdf(t: float, degrees: float) -> float:
    """P(T <= t) for Student's t with `degrees` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(degrees / 2, 0.5, degrees / (degrees + t * t))
    return 1 - tail if t >= 0 else tail


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, modified Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below this point: use the symmetry
        return 1 - _incomplete_beta(b, a, 1 - x)
    return math.exp(log_front) * _beta_fraction(a, b, x) / a


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result
