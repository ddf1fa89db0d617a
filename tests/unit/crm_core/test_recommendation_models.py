"""Co-occurrence pairs, repurchase intervals and picks on hand-made histories with obvious answers."""

from __future__ import annotations

from datetime import date, timedelta

from crm_core.automations import recommend
from crm_core.automations.recommendations import own_interval, product_pairs


def test_pairs_count_customers_who_bought_both_and_rank_ties_by_sku():
    baskets = {
        1: {"BEAN", "CAKE"},
        2: {"BEAN", "CAKE", "MUG"},
        3: {"BEAN", "CAKE"},
        4: {"BEAN", "MUG", "TEA"},
        5: {"BEAN", "TEA"},
        6: {"CAKE", "P1"},  # bought together by one customer only: not enough
    }
    rows = product_pairs(baskets)
    bean = [(r["other_sku"], r["score"], r["rank"]) for r in rows if r["sku"] == "BEAN"]
    assert bean == [("CAKE", 3, 1), ("MUG", 2, 2), ("TEA", 2, 3)]  # MUG before TEA: same score, by sku
    assert not [r for r in rows if "P1" in (r["sku"], r["other_sku"])]
    assert product_pairs(dict(reversed(list(baskets.items())))) == rows  # the same history, the same rows


def test_own_interval_is_the_median_gap_between_purchase_days():
    start = date(2026, 1, 1)
    assert own_interval([start]) is None
    assert own_interval([start, start + timedelta(days=30)]) == 30
    days = [start + timedelta(days=d) for d in (0, 30, 58, 90, 200)]  # one long pause does not move it
    assert own_interval(days) == 30  # gaps 30, 28, 32, 110: the lower median


def test_recommend_never_offers_what_was_bought_and_gives_the_strongest_reason():
    pairs = {
        "BEAN": [("CAKE", 5), ("MUG", 3), ("FILTER", 3), ("DRIP", 1)],
        "MILK": [("MUG", 4), ("CAKE", 2)],
    }
    picks = recommend({"BEAN", "MILK"}, {"BEAN", "MILK", "FILTER"}, pairs)
    assert picks == [("CAKE", "BEAN"), ("MUG", "MILK"), ("DRIP", "BEAN")]
    assert recommend({"BEAN"}, {"BEAN", "CAKE", "MUG", "FILTER", "DRIP"}, pairs) == []
