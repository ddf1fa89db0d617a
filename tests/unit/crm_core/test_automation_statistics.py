"""Hold-out statistics checked against published and hand-computed figures."""

from __future__ import annotations

import math

import pytest

from crm_core.automations.statistics import (
    Interval,
    Sample,
    proportion_difference,
    t_quantile,
    welch_difference,
    wilson,
)


@pytest.mark.parametrize(
    ("degrees", "quantile"),
    # Student t 97.5% quantiles from the printed tables
    [(1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423), (120, 1.9799), (1e9, 1.9600)],
)
def test_t_quantiles_match_the_printed_table(degrees, quantile):
    assert t_quantile(0.975, degrees) == pytest.approx(quantile, abs=5e-5)


def test_wilson_interval_for_no_successes_is_not_the_empty_wald_interval():
    # z^2 = 3.8415: upper = (0 + 3.8415/20 + 1.96 * sqrt(3.8415/400)) / (1 + 3.8415/10) = 0.3841 / 1.3841
    interval = wilson(0, 10)
    assert interval.low == 0
    assert interval.high == pytest.approx(0.2775, abs=1e-4)


@pytest.mark.parametrize(
    ("counts", "expected"),
    # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10
    [
        ((56, 70, 48, 80), (0.2, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6, 0.1705, 0.8090)),
        ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
        ((0, 10, 0, 20), (0.0, -0.1611, 0.2775)),
        ((10, 10, 0, 20), (1.0, 0.6791, 1.0)),
    ],
)
def test_purchase_rate_difference_uses_newcombes_hybrid_score_interval(counts, expected):
    interval = proportion_difference(*counts)
    assert (interval.estimate, interval.low, interval.high) == pytest.approx(expected, abs=1e-4)


def test_a_difference_of_rates_straddling_zero_is_unclear():
    assert proportion_difference(5, 56, 0, 29).direction == "unclear"
    assert proportion_difference(56, 70, 48, 80).direction == "up"
    assert proportion_difference(48, 80, 56, 70).direction == "down"


def test_revenue_difference_is_welchs_interval_on_hand_computed_numbers():
    # messaged: ¥0, ¥0, ¥1,000, ¥2,000 -> mean 750, variance (4 * 5,000,000 - 3,000^2) / 12 = 916,666.67
    # hold-out: ¥0, ¥0, ¥0, ¥500 -> mean 125, variance (4 * 250,000 - 500^2) / 12 = 62,500
    # se^2 = 916,666.67 / 4 + 62,500 / 4 = 244,791.67; df = se^4 / ((229,166.67^2 + 15,625^2) / 3) = 3.4072
    messaged = Sample(n=4, total=3000, squares=0 + 0 + 1000**2 + 2000**2)
    held_out = Sample(n=4, total=500, squares=500**2)
    interval = welch_difference(messaged, held_out)
    se = math.sqrt(244_791.6667)
    half = t_quantile(0.975, 3.4072) * se
    assert interval.estimate == 625
    assert (interval.low, interval.high) == pytest.approx((625 - half, 625 + half), abs=0.5)
    assert half == pytest.approx(1473.28, abs=0.05)  # t(3.41) = 2.978, between the table's 3.182 (3) and 2.776 (4)
    assert interval.direction == "unclear"


def test_revenue_difference_with_equal_variances_matches_the_pooled_t_interval():
    # equal n and variances: Welch's df is 2n - 2 = 18, as in Student's test
    first = Sample(n=10, total=10 * 1000, squares=5 * 900**2 + 5 * 1100**2)  # 900 and 1100, five each
    second = Sample(n=10, total=10 * 800, squares=5 * 700**2 + 5 * 900**2)
    interval = welch_difference(first, second)
    variance = (5 * 100**2 * 2) / 9  # 1,111.11 in each group
    half = 2.1009 * math.sqrt(2 * variance / 10)
    assert (interval.low, interval.high) == pytest.approx((200 - half, 200 + half), abs=0.01)
    assert interval.direction == "up"


def test_revenue_difference_needs_two_customers_in_each_group():
    assert welch_difference(Sample(1, 500, 250_000), Sample(5, 0, 0)) is None


def test_no_variation_at_all_is_an_exact_difference():
    assert welch_difference(Sample(3, 0, 0), Sample(4, 0, 0)) == Interval(0, 0, 0)
    assert Interval(0, 0, 0).direction == "unclear"
