"""Segments on hand-made histories where the right audience is obvious, at the edges of their windows."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from crm_core import segments
from crm_core.errors import Conflict, InvalidFields
from crm_core.models import Customer, Segment
from tests.shop import TOKYO, Shop

# the clock: 2026-11-22 12:00 in Tokyo
TODAY = date(2026, 11, 22)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO)


def ago(days: int, hour: int = 12, minute: int = 0) -> datetime:
    return at(TODAY - timedelta(days=days), hour, minute)


@pytest.fixture
def shop(services, clock) -> Shop:
    return Shop(services, clock)


def members(shop: Shop, *conditions: dict, match: str = "all") -> set[int]:
    rules = segments.check_rules({"match": match, "conditions": list(conditions)})
    with shop.uow_factory() as uow:
        return set(uow.session.execute(segments.audience(rules, now=uow.now(), zone=TOKYO)).scalars())


def test_days_since_the_last_purchase_count_business_days_at_both_edges(shop):
    sixty = shop.customer("六十日前 23:59")
    shop.buy(sixty, ago(60, 23, 59))
    fifty_nine = shop.customer("五十九日前 00:00")
    shop.buy(fifty_nine, ago(59, 0, 0))
    refunded_later = shop.customer("最近の分は全額返品")
    shop.buy(refunded_later, ago(90))
    shop.buy(refunded_later, ago(5), total=2000, refunded=2000)
    never = shop.customer("未購入")

    assert members(shop, {"field": "recency_days", "op": ">=", "value": 60}) == {sixty, refunded_later}
    assert members(shop, {"field": "recency_days", "op": "<=", "value": 59}) == {fifty_nine}
    assert members(shop, {"field": "recency_days", "op": "=", "value": 60}) == {sixty}
    # who never bought has no last purchase: a win-back segment leaves them out
    assert never not in members(shop, {"field": "recency_days", "op": ">=", "value": 0})


def test_a_window_starts_at_midnight_in_tokyo_and_counts_today(shop):
    inside = shop.customer("29日前の00:00")
    shop.buy(inside, ago(29, 0, 0))
    outside = shop.customer("30日前の23:59")
    shop.buy(outside, ago(30, 23, 59))
    today = shop.customer("今日")
    shop.buy(today, ago(0, 11, 0))

    assert members(shop, {"field": "frequency", "op": ">=", "value": 1, "days": 30}) == {inside, today}


def test_frequency_and_spend_include_customers_with_nothing_in_the_window_when_zero_fits(shop):
    none = shop.customer("購入なし")
    once = shop.customer("一回")
    shop.buy(once, ago(3), total=3000)
    twice = shop.customer("二回、一回は返品")
    shop.buy(twice, ago(3), total=4000)
    shop.buy(twice, ago(2), total=4000, refunded=1000)
    all_back = shop.customer("全額返品のみ")
    shop.buy(all_back, ago(2), total=5000, refunded=5000)

    assert members(shop, {"field": "frequency", "op": "<=", "value": 1, "days": 30}) == {none, once, all_back}
    assert members(shop, {"field": "frequency", "op": ">=", "value": 2, "days": 30}) == {twice}
    assert members(shop, {"field": "frequency", "op": "=", "value": 0, "days": 30}) == {none, all_back}
    # spend is net of refunds: 4,000 + 3,000
    assert members(shop, {"field": "monetary", "op": ">=", "value": 7000, "days": 30}) == {twice}
    assert members(shop, {"field": "monetary", "op": ">=", "value": 7001, "days": 30}) == set()
    assert members(shop, {"field": "monetary", "op": "<=", "value": 3000, "days": 30}) == {none, once, all_back}


def test_bought_a_product_or_a_category_in_the_window(shop):
    beans = shop.customer("豆")
    shop.buy(beans, ago(10), "BEAN", category="coffee")
    old_beans = shop.customer("昔の豆")
    shop.buy(old_beans, ago(40), "BEAN", category="coffee")
    cake = shop.customer("ケーキ")
    shop.buy(cake, ago(1), "CAKE", category="sweets")

    assert members(shop, {"field": "bought_product", "op": "in", "value": ["BEAN"], "days": 30}) == {beans}
    assert members(shop, {"field": "bought_category", "op": "in", "value": ["coffee", "sweets"], "days": 30}) == {
        beans,
        cake,
    }
    assert members(shop, {"field": "bought_category", "op": "not_in", "value": ["coffee"], "days": 30}) == {
        old_beans,
        cake,
    }


def test_member_attributes(shop):
    gold = shop.customer("ゴールド", tier="gold", birth_date=date(1996, 11, 22), home_store=True)
    silver = shop.customer("シルバー", tier="silver", birth_date=date(1996, 11, 23), joined=ago(365, 0, 0))
    unknown_age = shop.customer("年齢不明", joined=ago(364, 23, 59))
    with shop.uow_factory() as uow:
        assert segments.tag_customer(uow=uow, customer_id=silver, tag=" VIP ")
        assert not segments.tag_customer(uow=uow, customer_id=silver, tag="vip")
        uow.commit()

    assert members(shop, {"field": "tier", "op": "in", "value": ["gold", "silver"]}) == {gold, silver}
    assert members(shop, {"field": "tier", "op": "not_in", "value": ["gold"]}) == {silver, unknown_age}
    # 30 today (born 1996-11-22); 29 until tomorrow (born 1996-11-23)
    assert members(shop, {"field": "age_band", "op": "in", "value": ["30s"]}) == {gold}
    assert members(shop, {"field": "age_band", "op": "in", "value": ["20s", "unknown"]}) == {silver, unknown_age}
    assert members(shop, {"field": "tag", "op": "in", "value": ["Vip"]}) == {silver}
    assert members(shop, {"field": "tag", "op": "not_in", "value": ["vip"]}) == {gold, unknown_age}
    assert members(shop, {"field": "home_store", "op": "in", "value": ["SHIBUYA"]}) == {gold}
    assert members(shop, {"field": "member_days", "op": ">=", "value": 365}) == {silver}
    assert members(shop, {"field": "member_days", "op": ">=", "value": 364}) == {silver, unknown_age}


def test_engagement_and_matching_any(shop):
    friend = shop.customer("友だち")
    blocked = shop.customer("ブロック", blocked=True)
    no_line = shop.customer("LINEなし", line=False, consented=False)
    opted_out = shop.customer("配信停止", opt_out=True)

    assert members(shop, {"field": "line_friend", "op": "is", "value": True}) == {friend, opted_out}
    assert members(shop, {"field": "line_friend", "op": "is", "value": False}) == {blocked, no_line}
    assert members(shop, {"field": "consented", "op": "is", "value": False}) == {no_line}
    assert members(shop, {"field": "opted_out", "op": "is", "value": True}) == {opted_out}
    assert members(
        shop,
        {"field": "opted_out", "op": "is", "value": True},
        {"field": "line_friend", "op": "is", "value": False},
        match="any",
    ) == {blocked, no_line, opted_out}


def test_rfm_scores_rank_the_recent_buyers_in_fifths(shop):
    spenders = []
    for n in range(1, 11):  # ten customers: spend n x 1,000, the bigger spenders longer ago
        customer = shop.customer(f"顧客{n}")
        shop.buy(customer, ago(n * 10), total=n * 1000)
        spenders.append(customer)
    lapsed = shop.customer("一年以上前")
    shop.buy(lapsed, ago(400), total=99_000)

    assert members(shop, {"field": "rfm_m", "op": "=", "value": 5}) == set(spenders[8:])
    assert members(shop, {"field": "rfm_m", "op": "<=", "value": 1}) == set(spenders[:2])
    assert members(shop, {"field": "rfm_r", "op": ">=", "value": 5}) == set(spenders[:2])
    assert lapsed not in members(shop, {"field": "rfm_r", "op": ">=", "value": 1})


def test_an_erased_customer_is_in_no_segment(shop, clock):
    kept = shop.customer("残る")
    gone = shop.customer("消去済み")
    with shop.uow_factory() as uow:
        uow.session.get(Customer, gone).erased_at = clock.now()
        uow.commit()

    assert members(shop, {"field": "opted_out", "op": "is", "value": False}) == {kept}


@pytest.mark.parametrize(
    ("condition", "where"),
    [
        ({"field": "favourite_colour", "op": "in", "value": ["red"]}, "conditions.0.field"),
        ({"field": "tier", "op": ">=", "value": 1}, "conditions.0.op"),
        ({"field": "tier", "op": "in", "value": ["platinum"]}, "conditions.0.value"),
        ({"field": "recency_days", "op": ">=", "value": -1}, "conditions.0.value"),
        ({"field": "recency_days", "op": ">=", "value": True}, "conditions.0.value"),
        ({"field": "frequency", "op": ">=", "value": 2}, "conditions.0.days"),
        ({"field": "monetary", "op": ">=", "value": 2, "days": 0}, "conditions.0.days"),
        ({"field": "rfm_r", "op": ">=", "value": 6}, "conditions.0.value"),
        ({"field": "line_friend", "op": "is", "value": "yes"}, "conditions.0.value"),
        ({"field": "tag", "op": "in", "value": []}, "conditions.0.value"),
    ],
)
def test_a_wrong_condition_is_named_and_nothing_is_saved(shop, condition, where):
    with shop.uow_factory() as uow:
        with pytest.raises(InvalidFields) as refused:
            segments.save_segment(uow=uow, name="休眠", rules={"conditions": [condition]})
        assert set(refused.value.errors) == {where}
        uow.commit()
        assert uow.session.execute(select(Segment)).first() is None


def test_a_saved_segment_shows_its_size_and_a_sample_of_recent_buyers_first(shop):
    recent = shop.customer("最近")
    shop.buy(recent, ago(61))
    older = shop.customer("昔")
    shop.buy(older, ago(200))
    shop.customer("未購入")
    rules = {"conditions": [{"field": "recency_days", "op": ">=", "value": 60}]}
    with shop.uow_factory() as uow:
        segment = segments.save_segment(uow=uow, name=" 休眠顧客 ", rules=rules)
        uow.commit()
        assert segment.name == "休眠顧客" and segment.rules["match"] == "all"
        assert segments.size(uow=uow, rules=segment.rules, zone=TOKYO) == 2
        assert [m.customer_id for m in segments.sample(uow=uow, rules=segment.rules, zone=TOKYO)] == [recent, older]
        assert segments.customer_ids(uow=uow, segment_id=segment.id, zone=TOKYO) == [recent, older]
        with pytest.raises(Conflict):
            segments.save_segment(uow=uow, name="休眠顧客", rules=rules)
        assert [s.name for s in segments.list_segments(uow=uow)] == ["休眠顧客"]
