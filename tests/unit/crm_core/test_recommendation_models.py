"""Picks on hand-made pairs with obvious answers (the pairs and intervals themselves: tests/integration/automations)."""

from __future__ import annotations

from crm_core.automations import recommend


def test_recommend_never_offers_what_was_bought_and_gives_the_strongest_reason():
    pairs = {
        "BEAN": [("CAKE", 5), ("MUG", 3), ("FILTER", 3), ("DRIP", 1)],
        "MILK": [("MUG", 4), ("CAKE", 2)],
    }
    picks = recommend({"BEAN", "MILK"}, {"BEAN", "MILK", "FILTER"}, pairs)
    assert picks == [("CAKE", "BEAN"), ("MUG", "MILK"), ("DRIP", "BEAN")]
    assert recommend({"BEAN"}, {"BEAN", "CAKE", "MUG", "FILTER", "DRIP"}, pairs) == []
