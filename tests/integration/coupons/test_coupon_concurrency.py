"""Stock, limits and single use under real concurrency: threads released together on PostgreSQL.

On SQLite every writer queues on one lock, so these would prove nothing there; they run when
KIZUNA_TEST_DATABASE_URL points at PostgreSQL.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func
from sqlmodel import select

from crm_core import coupons, customers, points
from crm_core.errors import InsufficientPoints, SoldOut
from crm_core.models import Coupon, CouponDraw, CustomerCoupon
from tests.conftest import PG_URL
from tests.threads import together

pytestmark = pytest.mark.skipif(not PG_URL, reason="real concurrency needs PostgreSQL")


@pytest.fixture
def crowd(uow_factory):
    """200 customers."""
    with uow_factory() as uow:
        ids = [customers.create_customer(uow=uow, name=f"客{n}").id for n in range(200)]
        uow.commit()
    return ids


def _issued(uow_factory, coupon_id: int) -> tuple[int, int]:
    """(rows of customer coupons, the coupon's issued counter)."""
    with uow_factory() as uow:
        rows = uow.session.exec(
            select(func.count()).select_from(CustomerCoupon).where(CustomerCoupon.coupon_id == coupon_id)
        ).one()
        return rows, uow.session.get(Coupon, coupon_id).issued


def _kinds(results) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        name = type(result).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_200_claims_of_a_50_stock_coupon_give_exactly_50(uow_factory, crowd, define):
    coupon_id = define(stock=50)

    def claim(n):
        with uow_factory() as uow:
            issued = coupons.claim_coupon(uow=uow, coupon_id=coupon_id, customer_id=crowd[n])
            uow.commit()
            return issued

    results = together(200, claim)
    assert _kinds(results) == {"Issued": 50, "SoldOut": 150}
    assert _issued(uow_factory, coupon_id) == (50, 50)
    assert len({r.coupon.code for r in results if isinstance(r, coupons.Issued)}) == 50


def test_one_customer_claiming_at_once_gets_no_more_than_the_limit(uow_factory, shop, define):
    coupon_id = define(per_customer_limit=3)

    def claim(_n):
        with uow_factory() as uow:
            issued = coupons.claim_coupon(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako)
            uow.commit()
            return issued

    results = together(20, claim)
    assert _kinds(results) == {"Issued": 3, "LimitReached": 17}
    assert _issued(uow_factory, coupon_id) == (3, 3)
    with uow_factory() as uow:
        seqs = uow.session.exec(select(CustomerCoupon.seq).where(CustomerCoupon.coupon_id == coupon_id)).all()
    assert sorted(seqs) == [1, 2, 3]


def test_the_same_key_at_once_is_one_coupon_for_everyone(uow_factory, shop, define):
    coupon_id = define(stock=1)

    def issue(_n):
        with uow_factory() as uow:
            issued = coupons.issue_coupon(
                uow=uow, coupon_id=coupon_id, customer_id=shop.hanako, idempotency_key="pos-42"
            )
            uow.commit()
            return issued.coupon.code

    results = together(10, issue)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert len(set(results)) == 1
    assert _issued(uow_factory, coupon_id) == (1, 1)


def test_one_coupon_redeemed_from_two_tills_at_once_is_redeemed_once(uow_factory, shop, define):
    coupon_id = define(per_customer_limit=None)
    codes = []
    with uow_factory() as uow:
        for _ in range(10):
            codes.append(coupons.issue_coupon(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako).coupon.code)
        uow.commit()

    for code in codes:  # ten rounds of two tills scanning the same coupon

        def redeem(n, code=code):
            with uow_factory() as uow:
                store_id = shop.shibuya if n == 0 else shop.shinjuku
                done = coupons.redeem_coupon(uow=uow, code=code, store_id=store_id, total=3000)
                uow.commit()
                return done.held.store_id

        results = together(2, redeem)
        assert sorted(type(r).__name__ for r in results) == ["AlreadyUsed", "int"], results
    with uow_factory() as uow:
        statuses = uow.session.exec(select(CustomerCoupon.status, func.count()).group_by(CustomerCoupon.status)).all()
    assert dict(statuses) == {"redeemed": 10}


def test_a_lottery_never_awards_more_than_its_stock(uow_factory, crowd, define):
    certain = define(obtain="lottery", win_basis_points=10_000, stock=5)
    coin = define(obtain="lottery", win_basis_points=5_000, stock=20)

    def draw(coupon_id):
        def run(n):
            with uow_factory() as uow:
                result = coupons.draw_lottery(
                    uow=uow,
                    coupon_id=coupon_id,
                    customer_id=crowd[n],
                    idempotency_key=f"{coupon_id}:{n}",
                    rng=random.Random(n),
                )
                uow.commit()
                return result.won

        return run

    results = together(60, draw(certain))
    assert results.count(True) == 5 and all(r is True or isinstance(r, SoldOut) for r in results)
    assert _issued(uow_factory, certain) == (5, 5)

    results = together(100, draw(coin))
    assert results.count(True) == 20, _kinds(results)  # about 50 would win: the stock stops at 20
    assert all(isinstance(r, bool | SoldOut) for r in results)
    with uow_factory() as uow:
        won = uow.session.exec(
            select(func.count()).select_from(CouponDraw).where(CouponDraw.coupon_id == coin, CouponDraw.won)
        ).one()
    assert won == 20 and _issued(uow_factory, coin) == (20, 20)


def test_concurrent_points_exchanges_never_overdraw_nor_issue_unpaid(uow_factory, shop, define):
    coupon_id = define(obtain="points", points_cost=100, per_customer_limit=None)
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=shop.hanako, amount=250, idempotency_key="g")
        uow.commit()

    def exchange(n):
        with uow_factory() as uow:
            issued = coupons.exchange_points(
                uow=uow, coupon_id=coupon_id, customer_id=shop.hanako, idempotency_key=f"x{n}"
            )
            uow.commit()
            return issued

    results = together(10, exchange)
    assert _kinds(results) == {"Issued": 2, "InsufficientPoints": 8}
    assert all(isinstance(r, coupons.Issued | InsufficientPoints) for r in results)
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=shop.hanako) == 50
        assert points.ledger_balance(uow=uow, customer_id=shop.hanako) == 50
    assert _issued(uow_factory, coupon_id) == (2, 2)
