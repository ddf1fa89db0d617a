"""Paying with points, earning on what was paid, partial refunds by the earning rule, old purchase dates."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from crm_core import points, purchases
from crm_core.errors import InsufficientPoints, InvalidInput
from crm_core.loyalty import Program, get_program, save_program
from crm_core.models import Purchase
from tests.integration.points.steps import refund

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def shop(shop, uow_factory):
    """The package's member and store, the member with 500 points from a welcome grant."""
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=shop[0], amount=500, idempotency_key="welcome")
        uow.commit()
    return shop


def buy(uow_factory, shop, total, *, used=0, external_id=None, **extra):
    customer_id, store_id = shop
    with uow_factory() as uow:
        result = purchases.record_purchase(
            uow=uow,
            customer_id=customer_id,
            store_id=store_id,
            total=total,
            points_used=used,
            external_id=external_id,
            zone=TOKYO,
            **extra,
        )
        uow.commit()
        return result


def balance(uow_factory, customer_id):
    with uow_factory() as uow:
        cached = points.balance_of(uow=uow, customer_id=customer_id)
        assert cached == points.ledger_balance(uow=uow, customer_id=customer_id) >= 0
        assert cached == sum(lot.remaining for lot in points.usable_lots(uow, customer_id, include_pending=True))
        return cached


def test_a_partial_refund_takes_back_what_the_rule_gives_for_the_rest_and_not_a_point_more(uow_factory, shop):
    sale = buy(uow_factory, shop, 3240)
    assert sale.points_earned == 32

    first = refund(uow_factory, sale.purchase.id, 240, "R1")  # ¥3,000 remain: they earn 30
    second = refund(uow_factory, sale.purchase.id, 1000, "R2")  # ¥2,000 remain: 20
    last = refund(uow_factory, sale.purchase.id, 2000, "R3")

    assert (first.points_reversed, second.points_reversed, last.points_reversed) == (2, 10, 20)
    assert balance(uow_factory, shop[0]) == 500


def test_paying_with_points_earns_on_the_yen_paid_by_default_or_on_the_total(uow_factory, shop):
    paid = buy(uow_factory, shop, 3240, used=300, external_id="P1")
    assert (paid.points_earned, paid.points_used, paid.points_balance) == (29, 300, 500 - 300 + 29)  # on ¥2,940
    assert paid.as_dict() == {"id": paid.purchase.id, "points_earned": 29, "points_used": 300, "points_balance": 229}

    with uow_factory() as uow:
        save_program(uow=uow, program=Program(earn_on="gross"))
        uow.commit()
    gross = buy(uow_factory, shop, 3240, used=100)
    assert gross.points_earned == 32
    with uow_factory() as uow, pytest.raises(InvalidInput):
        save_program(uow=uow, program=Program(earn_on="cash"))
    with uow_factory() as uow:
        assert get_program(uow=uow).earn_on == "gross"


def test_not_enough_points_records_nothing_and_the_same_purchase_again_spends_once(uow_factory, shop):
    with pytest.raises(InsufficientPoints) as refused:
        buy(uow_factory, shop, 10_000, used=501, external_id="P1")
    assert refused.value.params["available"] == 500
    with uow_factory() as uow:
        assert uow.session.exec(select(Purchase)).all() == []

    first = buy(uow_factory, shop, 1000, used=200, external_id="P1")
    again = buy(uow_factory, shop, 1000, used=200, external_id="P1")
    assert again.as_dict() == first.as_dict() and not again.created
    assert balance(uow_factory, shop[0]) == 500 - 200 + 8
    with pytest.raises(InvalidInput):
        buy(uow_factory, shop, 1000, used=1001)


def test_a_purchase_never_pays_with_the_points_it_earns(uow_factory, shop):
    with pytest.raises(InsufficientPoints):
        buy(uow_factory, shop, 100_000, used=600)  # it would earn 1,000, but only 500 are there before it
    assert balance(uow_factory, shop[0]) == 500


def test_refunds_give_back_the_points_used_on_the_refunded_part(uow_factory, shop):
    sale = buy(uow_factory, shop, 1000, used=300)  # earns 7 on ¥700
    assert balance(uow_factory, shop[0]) == 207

    half = refund(uow_factory, sale.purchase.id, 500, "R1")  # ¥500 remain, 150 of them paid with points: 3 pt
    assert (half.points_returned, half.points_reversed) == (150, 7 - 3)
    rest = refund(uow_factory, sale.purchase.id, 500, "R2")
    assert (rest.points_returned, rest.points_reversed) == (150, 3)
    assert balance(uow_factory, shop[0]) == 500


@pytest.mark.parametrize("order", list(permutations(range(3))), ids=str)
def test_refunding_everything_in_any_order_leaves_the_balance_as_before(uow_factory, shop, order):
    sales = [
        buy(uow_factory, shop, 3240),
        buy(uow_factory, shop, 1000, used=300),
        buy(uow_factory, shop, 5000, used=40),
    ]
    for n in order:
        purchase = sales[n].purchase
        refund(uow_factory, purchase.id, 1, f"R{n}-a")  # a partial refund first, then the rest
        refund(uow_factory, purchase.id, purchase.total - 1, f"R{n}-b")
        assert balance(uow_factory, shop[0]) >= 0
    assert balance(uow_factory, shop[0]) == 500


def test_points_of_a_refunded_purchase_spent_elsewhere_do_not_come_back_when_that_spend_is_refunded(uow_factory, shop):
    customer_id, _ = shop
    with uow_factory() as uow:
        points.spend(uow=uow, customer_id=customer_id, amount=500, idempotency_key="all-of-the-welcome")
        uow.commit()
    a = buy(uow_factory, shop, 3240)  # 32
    b = buy(uow_factory, shop, 1000, used=30)  # paid with A's points, earns 9
    refund(uow_factory, a.purchase.id, 3240, "RA")  # 2 of A's and B's 9 are taken; 21 are owed
    assert balance(uow_factory, customer_id) == 0
    refund(uow_factory, b.purchase.id, 1000, "RB")  # A's 30 come back: they settle what A owes
    assert balance(uow_factory, customer_id) == 0


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (datetime(1, 1, 1, tzinfo=TOKYO), "The purchase time is too long ago."),
        (datetime(9999, 12, 31, tzinfo=TOKYO), "The purchase time is in the future."),
        (None, "This purchase is older than its points would be valid"),
    ],
)
def test_purchases_dated_before_the_points_validity_are_refused(uow_factory, shop, clock, when, message):
    when = when or clock.now() - timedelta(days=367)
    with pytest.raises(InvalidInput) as refused:
        buy(uow_factory, shop, 1000, occurred_at=when)
    assert message in str(refused.value)
    just_in_time = buy(uow_factory, shop, 1000, occurred_at=clock.now() - timedelta(days=364))
    assert just_in_time.points_earned == 10
    assert balance(uow_factory, shop[0]) == 510


def test_points_a_refund_took_in_place_of_used_ones_are_not_owed_twice(uow_factory, shop):
    customer_id, _ = shop
    with uow_factory() as uow:
        points.spend(uow=uow, customer_id=customer_id, amount=500, idempotency_key="all-of-the-welcome")
        uow.commit()
    a = buy(uow_factory, shop, 3200)  # 32
    b = buy(uow_factory, shop, 1000)  # 10
    c = buy(uow_factory, shop, 40, used=40)  # all of A's and 8 of B's
    refund(uow_factory, a.purchase.id, 3200, "RA")  # takes B's last 2 in place of A's; 30 owed
    refund(uow_factory, b.purchase.id, 1000, "RB")  # nothing left: 10 owed
    refund(uow_factory, c.purchase.id, 40, "RC")  # the 40 come back and settle the 40 owed
    assert balance(uow_factory, customer_id) == 0
