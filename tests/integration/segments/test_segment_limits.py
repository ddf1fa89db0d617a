"""Segments at their limits: every age band's edges on a birthday, the RFM year's first day, the rule limits."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from crm_core import segments
from crm_core.errors import InvalidFields
from tests.integration.segments.test_segments import TODAY, members
from tests.shop import TOKYO, Shop


@pytest.fixture
def shop(services, clock) -> Shop:
    return Shop(services, clock)


def born(years_ago: int, *, days: int = 0) -> date:
    return TODAY.replace(year=TODAY.year - years_ago) + timedelta(days=days)


@pytest.mark.parametrize(
    ("band", "youngest", "oldest"),
    [
        ("under_20", 0, 19),
        ("20s", 20, 29),
        ("30s", 30, 39),
        ("40s", 40, 49),
        ("50s", 50, 59),
        ("60s", 60, 69),
        ("70_plus", 70, 200),
    ],
)
def test_each_age_band_holds_its_first_and_last_year_and_no_more(shop, band, youngest, oldest):
    first_day = shop.customer("今日で最年少", birth_date=born(youngest))
    too_young = shop.customer("明日で最年少", birth_date=born(youngest, days=1))
    last_year = shop.customer("明日で最年長を超える", birth_date=born(oldest + 1, days=1))
    too_old = shop.customer("今日で最年長を超えた", birth_date=born(oldest + 1))

    found = members(shop, {"field": "age_band", "op": "in", "value": [band]})

    assert first_day in found and last_year in found
    assert too_old not in found and too_young not in found  # under_20's "too young" is born tomorrow: not yet


def test_rfm_scores_count_purchases_from_the_first_day_of_the_year_back(shop):
    inside = shop.customer("364日前")
    shop.buy(inside, datetime(2025, 11, 23, 0, 0, tzinfo=TOKYO))  # the first day of the 365 ending today
    outside = shop.customer("365日前")
    shop.buy(outside, datetime(2025, 11, 22, 23, 59, tzinfo=TOKYO))

    scored = members(shop, {"field": "rfm_r", "op": ">=", "value": 1})

    assert inside in scored and outside not in scored


def _condition(n: int) -> dict:
    return {"field": "tier", "op": "in", "value": ["gold"]}


def test_the_rules_limits_are_where_they_say():
    assert segments.check_rules({"conditions": [_condition(n) for n in range(20)]})
    with pytest.raises(InvalidFields) as refused:
        segments.check_rules({"conditions": [_condition(n) for n in range(21)]})
    assert set(refused.value.errors) == {"conditions"}

    window = {"field": "frequency", "op": ">=", "value": 1}
    assert segments.check_rules({"conditions": [{**window, "days": 1}]})
    with pytest.raises(InvalidFields):
        segments.check_rules({"conditions": [{**window, "days": 0}]})
    assert segments.check_rules({"conditions": [{**window, "days": 3650}]})
    with pytest.raises(InvalidFields):
        segments.check_rules({"conditions": [{**window, "days": 3651}]})

    tags = {"field": "tag", "op": "in"}
    assert segments.check_rules({"conditions": [{**tags, "value": [f"t{n}" for n in range(100)]}]})
    with pytest.raises(InvalidFields):
        segments.check_rules({"conditions": [{**tags, "value": [f"t{n}" for n in range(101)]}]})
    with pytest.raises(InvalidFields):
        segments.check_rules({"conditions": [{**tags, "value": ["x" * 101]}]})
    assert segments.check_rules({"conditions": [{**tags, "value": ["x" * 100]}]})


def test_customers_with_the_same_history_share_their_rfm_score(shop, clock):
    once = [shop.customer(f"一回{n}") for n in range(8)]
    for customer in once:
        shop.buy(customer, clock.now() - timedelta(days=5))
    regulars = [shop.customer(f"常連{n}") for n in range(2)]
    for customer in regulars:
        for days in (5, 15, 25):
            shop.buy(customer, clock.now() - timedelta(days=days))

    # eight of ten bought once: all of them are at or below the 80 % mark, so all score 4, none 5
    assert members(shop, {"field": "rfm_f", "op": "=", "value": 5}) == set(regulars)
    assert members(shop, {"field": "rfm_f", "op": "=", "value": 4}) == set(once)


def test_is_none_of_keeps_customers_with_nothing_there(shop):
    at_home = shop.customer("渋谷店の会員", home_store=True, birth_date=born(25))
    nowhere = shop.customer("店舗なし・年齢不明")

    assert members(shop, {"field": "home_store", "op": "not_in", "value": ["SHIBUYA"]}) == {nowhere}
    assert members(shop, {"field": "age_band", "op": "not_in", "value": ["20s"]}) == {nowhere}
    assert members(shop, {"field": "age_band", "op": "not_in", "value": ["20s", "unknown"]}) == set()
    assert at_home in members(shop, {"field": "age_band", "op": "not_in", "value": ["30s"]})


@pytest.mark.parametrize(
    ("field", "low", "high", "window"),
    [
        ("member_days", 0, 36_500, False),
        ("recency_days", 0, 36_500, False),
        ("frequency", 0, 100_000, True),
        ("monetary", 0, 1_000_000_000, True),
        ("rfm_r", 1, 5, False),
        ("rfm_f", 1, 5, False),
        ("rfm_m", 1, 5, False),
    ],
)
def test_each_number_field_takes_its_range_and_nothing_past_it(field, low, high, window):
    days = {"days": 1} if window else {}

    def check(value):
        return segments.check_rules({"conditions": [{"field": field, "op": ">=", "value": value, **days}]})

    assert check(low) and check(high)
    for wrong in (low - 1, high + 1):
        with pytest.raises(InvalidFields) as refused:
            check(wrong)
        assert set(refused.value.errors) == {"conditions.0.value"}


def test_a_segment_needs_a_condition_and_an_unknown_field_is_named_briefly():
    with pytest.raises(InvalidFields) as refused:
        segments.check_rules({"conditions": []})
    assert set(refused.value.errors) == {"conditions"}
    with pytest.raises(InvalidFields) as refused:
        segments.check_rules({"conditions": [{"field": "x" * 60, "op": "in", "value": ["a"]}]})
    assert refused.value.errors["conditions.0.field"].params == {"field": "x" * 50}
