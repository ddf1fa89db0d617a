"""Purchases at their edges: the 12 months a purchase counts toward the tier, the largest total, the
oldest date, a ¥0 purchase, purchases recorded before the earning rule was kept with them.

Each test here was written against a mutant of `crm_core/purchases.py` that survived the purchase
tests (issue 18) and fails with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_core import customers, points, purchases, timeline
from crm_core.errors import InvalidInput
from crm_core.loyalty import Program, save_program
from crm_core.models import Customer, Purchase, Store
from tests.integration.points.steps import refund

TOKYO = ZoneInfo("Asia/Tokyo")


def buy(uow_factory, shop, total, **extra):
    customer_id, store_id = shop
    with uow_factory() as uow:
        result = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=store_id, total=total, zone=TOKYO, **extra
        )
        uow.commit()
        return result


def balance(uow_factory, customer_id):
    with uow_factory() as uow:
        cached = points.balance_of(uow=uow, customer_id=customer_id)
        assert cached == points.ledger_balance(uow=uow, customer_id=customer_id) >= 0
        return cached


def use_points(uow_factory, customer_id, amount):
    with uow_factory() as uow:
        points.spend(uow=uow, customer_id=customer_id, amount=amount, idempotency_key="used")
        uow.commit()


def tier_changes(uow_factory, customer_id):
    with uow_factory() as uow:
        entries = timeline.list_for_customer(uow=uow, customer_id=customer_id)
        return [(entry.data["from"], entry.data["to"]) for entry in reversed(entries) if entry.kind == "tier_changed"]


def tier(uow_factory, customer_id):
    with uow_factory() as uow:
        return uow.session.get(Customer, customer_id).tier


def test_a_purchase_counts_toward_the_tier_for_exactly_twelve_months(uow_factory, shop, clock):
    customer_id, _ = shop
    bought_at = clock.now()
    assert buy(uow_factory, shop, 30_000).tier_after == "silver"
    with uow_factory() as uow:
        spend = [
            purchases.rolling_spend(uow=uow, customer_id=customer_id, until=bought_at + timedelta(days=days, seconds=s))
            for days, s in ((0, 0), (365, -1), (365, 0))
        ]
    assert spend == [30_000, 30_000, 0]

    clock.set(bought_at + timedelta(days=365, seconds=-1))
    with uow_factory() as uow:
        assert purchases.refresh_tiers(uow=uow) == 0
        uow.commit()
    clock.set(bought_at + timedelta(days=365))
    with uow_factory() as uow:
        assert purchases.refresh_tiers(uow=uow) == 1
        uow.commit()
    assert tier(uow_factory, customer_id) == "regular"
    assert tier_changes(uow_factory, customer_id) == [("regular", "silver"), ("silver", "regular")]


def test_the_largest_total_is_a_hundred_million_yen(uow_factory, shop):
    assert buy(uow_factory, shop, 100_000_000).purchase.total == 100_000_000
    with pytest.raises(InvalidInput):
        buy(uow_factory, shop, 100_000_001)


def test_without_points_a_purchase_may_be_dated_back_to_the_oldest_instant_and_not_before(uow_factory, shop, clock):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(mode="stamps"))
        uow.commit()
    oldest = clock.now() - timedelta(days=3_650 + 731)
    assert buy(uow_factory, shop, 1000, occurred_at=oldest).purchase.id
    with pytest.raises(InvalidInput, match="too long ago"):
        buy(uow_factory, shop, 1000, occurred_at=oldest - timedelta(microseconds=1))


def test_at_a_point_per_yen_a_free_purchase_earns_nothing_and_one_yen_earns_a_point(uow_factory, shop):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(yen_per_point=1))
        uow.commit()
    assert buy(uow_factory, shop, 0).points_earned == 0
    assert buy(uow_factory, shop, 1).points_earned == 1
    assert balance(uow_factory, shop[0]) == 1


def test_a_purchase_recorded_before_its_rule_was_kept_gives_back_its_points_in_proportion(uow_factory, shop):
    customer_id, _ = shop
    sale = buy(uow_factory, shop, 3240)  # 32 points
    with uow_factory() as uow:
        uow.session.get(Purchase, sale.purchase.id).earning = None  # as purchases were stored before the rule
        uow.commit()
    first = refund(uow_factory, sale.purchase.id, 1620, "R1")  # half: 32 * 1620 // 3240 = 16 kept
    assert first.points_reversed == 16
    rest = refund(uow_factory, sale.purchase.id, 1620, "R2")
    assert rest.points_reversed == 16
    assert balance(uow_factory, customer_id) == 0


def test_a_hundred_points_for_ten_thousand_yen(uow_factory, shop):
    assert buy(uow_factory, shop, 10_000).points_earned == 100
    assert buy(uow_factory, shop, 9_999).points_earned == 99


def test_a_till_clock_up_to_ten_minutes_ahead_is_accepted_and_not_a_moment_more(uow_factory, shop, clock):
    ahead = clock.now() + timedelta(minutes=10)
    assert buy(uow_factory, shop, 1000, occurred_at=ahead).purchase.id
    with pytest.raises(InvalidInput, match="in the future"):
        buy(uow_factory, shop, 1000, occurred_at=ahead + timedelta(microseconds=1))


def test_a_purchase_whose_points_expire_at_this_very_instant_is_refused_with_their_last_day(uow_factory, shop, clock):
    clock.set(datetime(2026, 11, 23, 0, 0, tzinfo=TOKYO))  # 365-day validity: points of 2025-11-22 end now
    with pytest.raises(InvalidInput, match="they expired on 2026-11-22"):
        buy(uow_factory, shop, 1000, occurred_at=datetime(2025, 11, 22, 23, 59, 59, tzinfo=TOKYO))
    assert buy(uow_factory, shop, 1000, occurred_at=datetime(2025, 11, 23, 0, 0, tzinfo=TOKYO)).points_earned == 10


@pytest.mark.parametrize("total", [-1, True, 1.5])
def test_a_total_below_zero_or_not_whole_yen_is_refused(uow_factory, shop, total):
    with pytest.raises(InvalidInput, match="whole number of yen from 0"):
        buy(uow_factory, shop, total)


def _item(quantity=1, unit_price=1000, sku="A-1", name="ブレンド"):
    return purchases.Item(sku=sku, name=name, category="coffee", quantity=quantity, unit_price=unit_price)


def test_an_item_may_be_bought_up_to_ten_thousand_times(uow_factory, shop):
    assert buy(uow_factory, shop, 10_000, items=[_item(10_000, 1)]).purchase.id
    for quantity in (0, 10_001):
        with pytest.raises(InvalidInput, match="quantity must be a whole number"):
            buy(uow_factory, shop, quantity, items=[_item(quantity, 1)])


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([_item(1, 1100), _item(1, -100)], "unit_price must be a whole number"),
        ([_item(sku="")], "needs a sku and a name"),
        ([_item(name="")], "needs a sku and a name"),
    ],
    ids=["a negative price", "no sku", "no name"],
)
def test_items_without_a_sku_or_a_name_or_below_zero_are_refused(uow_factory, shop, items, message):
    with pytest.raises(InvalidInput, match=message):
        buy(uow_factory, shop, 1000, items=items)
    with uow_factory() as uow:
        assert purchases.list_purchases(uow=uow, customer_id=shop[0], limit=50) == []


def test_with_a_coupon_the_items_add_up_to_the_price_before_the_discount(uow_factory, shop):
    # ¥1,200 of items, ¥200 off with a coupon: the customer pays ¥1,000
    paid = buy(uow_factory, shop, 1000, items=[_item(1, 1200)], discount=200)
    assert (paid.purchase.total, paid.purchase.discount) == (1000, 200)
    for items in ([_item(1, 1000)], [_item(1, 800)]):  # the paid total, or the total less the discount again
        with pytest.raises(InvalidInput, match="do not add up"):
            buy(uow_factory, shop, 1000, items=items, discount=200)


def test_an_external_id_is_the_same_with_spaces_around_it_and_a_blank_one_is_refused(uow_factory, shop):
    first = buy(uow_factory, shop, 1000, external_id="POS-1")
    again = buy(uow_factory, shop, 1000, external_id=" POS-1 \n")
    assert (again.purchase.id, again.created) == (first.purchase.id, False)
    assert balance(uow_factory, shop[0]) == 10
    with pytest.raises(InvalidInput, match="external_id must be 1 to 100 characters"):
        buy(uow_factory, shop, 1000, external_id="   ")


def test_an_external_id_may_have_a_hundred_characters_and_not_one_more(uow_factory, shop):
    assert buy(uow_factory, shop, 1000, external_id="P" * 100).purchase.external_id == "P" * 100
    with pytest.raises(InvalidInput, match="external_id must be 1 to 100 characters"):
        buy(uow_factory, shop, 1000, external_id="P" * 101)


def test_a_purchase_recorded_without_points_earns_none(uow_factory, shop):
    result = buy(uow_factory, shop, 10_000, grant_points=False)
    assert (result.points_earned, result.purchase.points_earned) == (0, 0)
    assert balance(uow_factory, shop[0]) == 0


def test_paying_a_single_point(uow_factory, shop):
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=shop[0], amount=5, idempotency_key="welcome")
        uow.commit()
    paid = buy(uow_factory, shop, 100, points_used=1)  # earns on the ¥99 paid: nothing
    assert (paid.points_used, paid.points_earned) == (1, 0)
    assert balance(uow_factory, shop[0]) == 4


def test_a_stamp_card_shop_stamps_a_purchase_by_the_tokyo_day_without_being_told_the_zone(uow_factory, shop, clock):
    customer_id, store_id = shop
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(mode="stamps"))
        uow.commit()
    clock.set(datetime(2026, 11, 23, 8, 30, tzinfo=TOKYO))  # still 22 November in UTC
    stamped = []
    for when in (datetime(2026, 11, 22, 23, 0, tzinfo=TOKYO), clock.now()):  # two Tokyo days: two stamps
        with uow_factory() as uow:
            result = purchases.record_purchase(
                uow=uow, customer_id=customer_id, store_id=store_id, total=500, occurred_at=when
            )
            uow.commit()
            stamped.append((result.stamps, result.points_earned))
    assert stamped == [(1, 0), (2, 0)]
    assert buy(uow_factory, shop, 500, grant_points=False).stamps is None
    assert balance(uow_factory, customer_id) == 0


def test_the_purchase_is_on_the_customers_timeline(uow_factory, shop):
    customer_id, store_id = shop
    sale = buy(uow_factory, shop, 3240)
    with uow_factory() as uow:
        (entry,) = [e for e in timeline.list_for_customer(uow=uow, customer_id=customer_id) if e.kind == "purchase"]
    assert entry.data == {
        "purchase_id": sale.purchase.id,
        "total": 3240,
        "points": 32,
        "points_used": 0,
        "store_id": store_id,
    }


def test_points_of_a_purchase_recorded_without_a_zone_end_by_the_tokyo_day(uow_factory, shop, clock):
    customer_id, store_id = shop
    clock.set(datetime(2026, 11, 23, 0, 30, tzinfo=TOKYO))
    with uow_factory() as uow, pytest.raises(InvalidInput, match="they expired on 2026-11-22"):
        purchases.record_purchase(
            uow=uow,
            customer_id=customer_id,
            store_id=store_id,
            total=1000,
            occurred_at=datetime(2025, 11, 22, 8, 30, tzinfo=TOKYO),  # 21 November in UTC
        )


def test_what_goes_with_a_purchase_goes_once_when_the_same_purchase_comes_again(uow_factory, shop):
    customer_id, store_id = shop
    receipts = []
    for _ in range(2):
        purchases.record_purchase_once(
            uow_factory=uow_factory,
            before_commit=lambda uow, result: receipts.append(result.purchase.id),
            customer_id=customer_id,
            store_id=store_id,
            total=1000,
            external_id="POS-1",
        )
    assert len(receipts) == 1


def test_a_refund_may_be_dated_ten_minutes_either_side_of_its_purchase_and_now_and_not_a_moment_more(
    uow_factory, shop, clock
):
    bought_at = clock.now() - timedelta(hours=1)
    sale = buy(uow_factory, shop, 1000, occurred_at=bought_at)
    edges = {
        "R1": bought_at - timedelta(minutes=10),
        "R2": clock.now() + timedelta(minutes=10),
        "early": bought_at - timedelta(minutes=10, microseconds=1),
        "late": clock.now() + timedelta(minutes=10, microseconds=1),
    }
    for external_id, when in edges.items():
        with uow_factory() as uow:
            purchase = uow.session.get(Purchase, sale.purchase.id)
            if external_id in ("R1", "R2"):
                purchases.refund_purchase(
                    uow=uow, purchase=purchase, amount=100, external_id=external_id, occurred_at=when
                )
                uow.commit()
            else:
                with pytest.raises(InvalidInput, match="between its purchase and now"):
                    purchases.refund_purchase(
                        uow=uow, purchase=purchase, amount=100, external_id=external_id, occurred_at=when
                    )


def test_a_refund_worth_a_single_point_earned_or_paid_gives_it_back(uow_factory, shop):
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=shop[0], amount=500, idempotency_key="welcome")
        uow.commit()
    earned = buy(uow_factory, shop, 3240)  # 32 points
    first = refund(uow_factory, earned.purchase.id, 100, "R1")  # ¥3,140 keep 31
    assert (first.points_reversed, first.shortfall) == (1, 0)
    paid = buy(uow_factory, shop, 300, points_used=3)  # 1 point paid per ¥100; earns 2 on the ¥297 paid
    assert (refund(uow_factory, paid.purchase.id, 100, "R2").points_returned, paid.points_earned) == (1, 2)
    assert balance(uow_factory, shop[0]) == 500 + 31 - 3 + 2 + 1 - 1  # ¥198 paid of what is kept earns 1


def test_a_refund_after_every_point_was_used_takes_back_none_and_says_so(uow_factory, shop):
    customer_id, _ = shop
    sale = buy(uow_factory, shop, 1000)  # 10 points
    use_points(uow_factory, customer_id, 10)
    refunded = refund(uow_factory, sale.purchase.id, 1000, "R1")
    assert (refunded.points_reversed, refunded.shortfall, refunded.points_returned) == (0, 10, 0)
    assert balance(uow_factory, customer_id) == 0


def test_the_same_refund_again_says_again_how_many_points_it_could_not_take_back(uow_factory, shop):
    customer_id, _ = shop
    sale = buy(uow_factory, shop, 1000)  # 10 points
    use_points(uow_factory, customer_id, 8)
    first = refund(uow_factory, sale.purchase.id, 1, "R1")  # ¥999 kept earns 9: 1 taken back
    rest = refund(uow_factory, sale.purchase.id, 999, "R2")  # 9 more to take back, 1 point left
    again = [refund(uow_factory, sale.purchase.id, amount, key) for amount, key in ((1, "R1"), (999, "R2"))]
    answers = [(r.created, r.points_reversed, r.shortfall) for r in (first, rest, *again)]
    assert answers == [(True, 1, 0), (True, 1, 8), (False, 1, 0), (False, 1, 8)]
    assert balance(uow_factory, customer_id) == 0


def test_a_refund_after_the_till_undid_the_points_payment_gives_nothing_back_twice(uow_factory, shop):
    customer_id, _ = shop
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=500, idempotency_key="welcome")
        uow.commit()
    paid = buy(uow_factory, shop, 300, points_used=300)
    with uow_factory() as uow:
        spent = points.get_entry_by_key(uow=uow, idempotency_key=f"purchase-spend:{paid.purchase.id}")
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="paid in cash after all")
        uow.commit()
    refunded = refund(uow_factory, paid.purchase.id, 300, "R1")
    assert (refunded.points_returned, refunded.points_reversed) == (0, 0)  # it earned nothing either
    assert balance(uow_factory, customer_id) == 500


def test_the_daily_job_moves_gold_members_down_too_a_page_at_a_time(uow_factory, shop, clock):
    customer_id, store_id = shop
    with uow_factory() as uow:
        steady = customers.create_customer(uow=uow, name="佐藤 次郎").id
        uow.commit()
    bought_at = clock.now()
    assert buy(uow_factory, shop, 100_000).tier_after == "gold"
    clock.advance(days=200)
    assert buy(uow_factory, (steady, store_id), 30_000).tier_after == "silver"
    clock.set(bought_at + timedelta(days=365))
    with uow_factory() as uow:
        assert purchases.refresh_tiers(uow=uow, page=1) == 1
        uow.commit()
    assert (tier(uow_factory, customer_id), tier(uow_factory, steady)) == ("regular", "silver")


def test_refunds_add_up_to_the_total_at_most_and_a_zero_yen_refund_is_refused(uow_factory, shop):
    sale = buy(uow_factory, shop, 1000)
    with pytest.raises(InvalidInput, match="whole number of yen from 1"):
        refund(uow_factory, sale.purchase.id, 0, "R0")
    refund(uow_factory, sale.purchase.id, 600, "R1")
    with pytest.raises(InvalidInput, match="At most 400 yen"):
        refund(uow_factory, sale.purchase.id, 401, "R2")
    assert refund(uow_factory, sale.purchase.id, 400, "R2").points_reversed == 4
    assert balance(uow_factory, shop[0]) == 0


def test_the_refund_is_on_the_customers_timeline(uow_factory, shop):
    sale = buy(uow_factory, shop, 3240)
    refund(uow_factory, sale.purchase.id, 240, "R1")
    with uow_factory() as uow:
        (entry,) = [e for e in timeline.list_for_customer(uow=uow, customer_id=shop[0]) if e.kind == "refund"]
    assert entry.data == {"purchase_id": sale.purchase.id, "amount": 240, "points": 2, "points_returned": 0}


def test_the_purchase_lists_show_one_customers_purchases_newest_first_by_store_and_page(uow_factory, shop, clock):
    customer_id, store_id = shop
    with uow_factory() as uow:
        other_store = Store(code="UMEDA", name="梅田店", created_at=uow.now())
        uow.session.add(other_store)
        stranger = customers.create_customer(uow=uow, name="佐藤 次郎").id
        uow.commit()
        other_store_id = other_store.id
    ids = []
    for n, where in enumerate((store_id, other_store_id, store_id)):
        clock.advance(minutes=1)
        ids.append(buy(uow_factory, (customer_id, where), 1000 + n).purchase.id)
    buy(uow_factory, (stranger, store_id), 5000)
    with uow_factory() as uow:
        recent = purchases.recent_purchases(uow=uow, customer_id=customer_id, limit=10)
        assert [(p.id, store.code) for p, store in recent] == [
            (ids[2], "SHIBUYA"),
            (ids[1], "UMEDA"),
            (ids[0], "SHIBUYA"),
        ]
        by_store = purchases.list_purchases(uow=uow, customer_id=customer_id, limit=50, store_id=store_id)
        assert [p.id for p in by_store] == [ids[2], ids[0]]
        before = purchases.list_purchases(uow=uow, customer_id=customer_id, limit=50, before_id=ids[2])
        assert [p.id for p in before] == [ids[1], ids[0]]
