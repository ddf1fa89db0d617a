"""Defining coupons and handing them out: idempotency keys, stock, limits, points, lotteries."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func
from sqlmodel import select

from crm_core import coupons, customers, points
from crm_core.errors import (
    Conflict,
    CouponExpired,
    CouponUnavailable,
    InsufficientPoints,
    InvalidFields,
    LimitReached,
    NotObtainableThisWay,
    SoldOut,
)
from crm_core.models import Coupon, CouponDraw, CustomerCoupon, PointEntry


def _issue(uow_factory, coupon_id, customer_id, key=None, **kwargs):
    with uow_factory() as uow:
        issued = coupons.issue_coupon(
            uow=uow, coupon_id=coupon_id, customer_id=customer_id, idempotency_key=key, **kwargs
        )
        uow.commit()
        return issued


def _count(uow_factory, table=CustomerCoupon) -> int:
    with uow_factory() as uow:
        return uow.session.exec(select(func.count()).select_from(table)).one()


def test_a_bad_definition_names_every_wrong_field_and_saves_nothing(uow_factory, shop):
    spec = coupons.CouponSpec(
        title=" ", benefit_kind="percent_off", benefit_value=120, stock=-1, obtain="points", valid_days=None
    )
    with uow_factory() as uow, pytest.raises(InvalidFields) as refused:
        coupons.define_coupon(uow=uow, spec=spec)
    assert set(refused.value.errors) == {"title", "benefit_value", "stock", "points_cost", "valid_days"}
    spec = coupons.CouponSpec(title="x", benefit_kind="yen_off", benefit_value=100, valid_days=7, store_codes=("NOPE",))
    with uow_factory() as uow, pytest.raises(InvalidFields) as refused:
        coupons.define_coupon(uow=uow, spec=spec)
    assert set(refused.value.errors) == {"store_codes"}
    assert _count(uow_factory, Coupon) == 0


def test_the_same_key_gives_the_same_coupon_back(uow_factory, shop, define, clock):
    coupon_id = define(per_customer_limit=None)
    first = _issue(uow_factory, coupon_id, shop.hanako, "flow:1")
    again = _issue(uow_factory, coupon_id, shop.hanako, "flow:1")
    assert first.created and not again.created
    assert again.coupon.code == first.coupon.code and len(first.coupon.code) == 12
    # issued on the 22nd (Tokyo), 7 days with that day: usable until midnight starting the 29th in Tokyo
    assert first.coupon.expires_at == datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    other = _issue(uow_factory, coupon_id, shop.hanako, "flow:2")
    assert other.coupon.code != first.coupon.code and other.coupon.seq == 2
    with pytest.raises(Conflict):
        _issue(uow_factory, coupon_id, shop.taro, "flow:1")
    with uow_factory() as uow:
        assert uow.session.get(Coupon, coupon_id).issued == 2


def test_stock_runs_out_and_the_limit_per_customer_holds(uow_factory, shop, define):
    coupon_id = define(stock=2, per_customer_limit=1)
    _issue(uow_factory, coupon_id, shop.hanako)
    with pytest.raises(LimitReached):
        _issue(uow_factory, coupon_id, shop.hanako)
    _issue(uow_factory, coupon_id, shop.taro)
    with uow_factory() as uow:
        third = customers.create_customer(uow=uow, name="鈴木 一郎").id
        uow.commit()
    with pytest.raises(SoldOut):
        _issue(uow_factory, coupon_id, third)
    with uow_factory() as uow:
        assert uow.session.get(Coupon, coupon_id).issued == 2
    assert _count(uow_factory) == 2


def test_a_refusal_leaves_nothing_in_the_callers_transaction(uow_factory, shop, define):
    coupon_id = define(stock=0)
    with uow_factory() as uow:
        with pytest.raises(SoldOut):
            coupons.issue_coupon(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako)
        points.grant(uow=uow, customer_id=shop.hanako, amount=10, idempotency_key="g")
        uow.commit()
    assert _count(uow_factory) == 0


def test_switched_off_ended_and_wrong_way_coupons_are_refused(uow_factory, shop, define, clock):
    off = define(active=False)
    with pytest.raises(CouponUnavailable):
        _issue(uow_factory, off, shop.hanako)
    ended = define(valid_days=None, valid_until=date(2026, 11, 21))
    with pytest.raises(CouponExpired):
        _issue(uow_factory, ended, shop.hanako)
    flow_only = define(obtain="flow")
    with uow_factory() as uow, pytest.raises(NotObtainableThisWay):
        coupons.claim_coupon(uow=uow, coupon_id=flow_only, customer_id=shop.hanako)
    last_day_today = define(valid_days=None, valid_until=date(2026, 11, 22))
    assert _issue(uow_factory, last_day_today, shop.hanako).created


def test_update_keeps_the_stock_above_what_was_issued(uow_factory, shop, define):
    coupon_id = define(stock=5)
    _issue(uow_factory, coupon_id, shop.hanako)
    _issue(uow_factory, coupon_id, shop.taro)
    with uow_factory() as uow, pytest.raises(InvalidFields) as refused:
        coupons.update_coupon(uow=uow, coupon_id=coupon_id, stock=1)
    assert set(refused.value.errors) == {"stock"}
    with uow_factory() as uow:
        coupon = coupons.update_coupon(uow=uow, coupon_id=coupon_id, stock=2, store_codes=("shibuya",))
        uow.commit()
        assert coupons.store_codes_of(uow=uow, coupon=coupon) == ["SHIBUYA"]
        assert coupon.stock == 2 and coupon.issued == 2


def test_points_exchange_spends_and_issues_together(uow_factory, shop, define):
    coupon_id = define(obtain="points", points_cost=100, stock=1, per_customer_limit=None)
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=shop.hanako, amount=250, idempotency_key="g")
        points.grant(uow=uow, customer_id=shop.taro, amount=50, idempotency_key="g2")
        uow.commit()

    def exchange(customer_id, key):
        with uow_factory() as uow:
            issued = coupons.exchange_points(uow=uow, coupon_id=coupon_id, customer_id=customer_id, idempotency_key=key)
            uow.commit()
            return issued

    with pytest.raises(InsufficientPoints):
        exchange(shop.taro, "x-1")
    first = exchange(shop.hanako, "x-2")
    again = exchange(shop.hanako, "x-2")
    assert first.created and not again.created and again.coupon.id == first.coupon.id
    assert first.coupon.obtained_by == "points" and first.coupon.point_entry_id is not None
    with pytest.raises(SoldOut):
        exchange(shop.hanako, "x-3")  # and its points stay
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=shop.hanako) == 150
        assert points.balance_of(uow=uow, customer_id=shop.taro) == 50
        assert uow.session.exec(select(func.count()).select_from(PointEntry).where(PointEntry.amount < 0)).one() == 1
    with uow_factory() as uow, pytest.raises(NotObtainableThisWay):
        coupons.exchange_points(uow=uow, coupon_id=define(), customer_id=shop.hanako, idempotency_key="x-4")


def test_a_lottery_draws_with_its_probability_and_records_every_draw(uow_factory, shop, define):
    coupon_id = define(obtain="lottery", win_basis_points=2500, stock=None, per_customer_limit=None)
    rng = random.Random(13)
    with uow_factory() as uow:
        draw = coupons.draw_lottery
        results = [
            draw(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako, idempotency_key=f"d{n}", rng=rng)
            for n in range(100)
        ]
        uow.commit()
    wins = sum(draw.won for draw in results)
    assert 10 <= wins <= 40, wins  # 25% of 100, more than 3 standard deviations either side
    assert all((draw.coupon is not None) == draw.won for draw in results)
    assert _count(uow_factory, CouponDraw) == 100 and _count(uow_factory) == wins
    with uow_factory() as uow:
        again = coupons.draw_lottery(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako, idempotency_key="d0")
    assert not again.created and again.won == results[0].won


def test_a_lottery_never_awards_more_than_its_stock_and_limits_draws(uow_factory, shop, define):
    coupon_id = define(obtain="lottery", win_basis_points=10_000, stock=1, per_customer_limit=1)
    with uow_factory() as uow:
        assert coupons.draw_lottery(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako, idempotency_key="a").won
        uow.commit()
    with uow_factory() as uow, pytest.raises(LimitReached):
        coupons.draw_lottery(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako, idempotency_key="b")
    with uow_factory() as uow, pytest.raises(SoldOut):
        coupons.draw_lottery(uow=uow, coupon_id=coupon_id, customer_id=shop.taro, idempotency_key="c")
    never = define(obtain="lottery", win_basis_points=0)
    with uow_factory() as uow:
        lost = coupons.draw_lottery(uow=uow, coupon_id=never, customer_id=shop.taro, idempotency_key="d")
    assert not lost.won and lost.coupon is None


def test_held_and_offered_coupons(uow_factory, shop, define, clock):
    claimable = define(title="クーポンA")
    define(title="フロー用", obtain="flow")
    soon = define(title="明日まで", valid_days=2, per_customer_limit=2)
    _issue(uow_factory, claimable, shop.hanako)
    _issue(uow_factory, soon, shop.hanako)
    with uow_factory() as uow:
        held = coupons.held_coupons(uow=uow, customer_id=shop.hanako)
        assert [coupon.title for _held, coupon in held] == ["明日まで", "クーポンA"]
        offered = coupons.offered_coupons(uow=uow, customer_id=shop.hanako)
        assert [coupon.title for coupon in offered] == ["明日まで"]  # one more allowed; A's limit reached
    clock.advance(days=2)
    with uow_factory() as uow:
        assert [coupon.title for _held, coupon in coupons.held_coupons(uow=uow, customer_id=shop.hanako)] == [
            "クーポンA"
        ]
