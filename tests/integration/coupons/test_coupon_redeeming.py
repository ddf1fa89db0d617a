"""Using a coupon: every reason it is refused, the exact expiry instant, the discount recorded."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crm_core import coupons, purchases
from crm_core.errors import (
    AlreadyUsed,
    CouponExpired,
    InvalidInput,
    MinimumNotMet,
    NotFound,
    NotThisCustomer,
    NotThisStore,
    NotYetValid,
)
from crm_core.models import CustomerCoupon, TimelineEntry


@pytest.fixture
def issue(uow_factory, shop, define):
    """Issue Hanako one coupon of a new definition; returns its code."""

    def make(**fields) -> str:
        coupon_id = define(**fields)
        with uow_factory() as uow:
            code = coupons.issue_coupon(uow=uow, coupon_id=coupon_id, customer_id=shop.hanako).coupon.code
            uow.commit()
            return code

    return make


def _redeem(uow_factory, code, store_id, **kwargs):
    with uow_factory() as uow:
        done = coupons.redeem_coupon(uow=uow, code=code, store_id=store_id, **kwargs)
        uow.commit()
        return done


def test_redeemed_once_with_the_discount_on_the_total(uow_factory, shop, issue):
    code = issue(benefit_kind="percent_off", benefit_value=20, benefit_cap=500, min_purchase=1000)
    typed = code[:4].lower() + "-" + code[4:8] + " " + code[8:]
    done = _redeem(uow_factory, typed, shop.shibuya, customer_id=shop.hanako, total=3240)
    assert done.discount == 500 and done.held.status == "redeemed" and done.held.store_id == shop.shibuya
    with pytest.raises(AlreadyUsed):
        _redeem(uow_factory, code, shop.shibuya, total=3240)
    with uow_factory() as uow:
        held = coupons.get_by_code(uow=uow, code=code)
        assert (held.status, held.discount, held.redeemed_at) == ("redeemed", 500, uow.now())
        kinds = [entry.kind for entry in uow.session.exec(TimelineEntry.__table__.select())]
        assert "coupon_issued" in kinds and "coupon_redeemed" in kinds


def test_the_coupon_expires_at_the_exact_instant(uow_factory, shop, issue, clock):
    code, later = issue(valid_days=1), issue(valid_days=1)
    with uow_factory() as uow:
        expires = coupons.get_by_code(uow=uow, code=code).expires_at
    clock.set(expires - timedelta(microseconds=1))  # 23:59:59.999999 in Tokyo on the day of issue
    assert _redeem(uow_factory, code, shop.shibuya, total=1000).discount == 300
    clock.set(expires)
    with pytest.raises(CouponExpired):
        _redeem(uow_factory, later, shop.shibuya, total=1000)


def test_each_reason_a_coupon_is_refused(uow_factory, shop, issue, clock):
    with pytest.raises(NotFound):
        _redeem(uow_factory, "NOSUCHCODE", shop.shibuya)
    code = issue(store_codes=("SHIBUYA",), min_purchase=2000)
    with pytest.raises(NotThisCustomer):
        _redeem(uow_factory, code, shop.shibuya, customer_id=shop.taro, total=3000)
    with pytest.raises(NotThisStore):
        _redeem(uow_factory, code, shop.shinjuku, total=3000)
    with pytest.raises(MinimumNotMet) as below:
        _redeem(uow_factory, code, shop.shibuya, total=1999)
    assert str(below.value) == "This coupon needs a purchase of at least ¥2,000."
    with pytest.raises(InvalidInput):
        _redeem(uow_factory, code, shop.shibuya)  # the minimum needs the total
    upcoming = issue(valid_from=date(2026, 12, 1), valid_until=date(2026, 12, 31), valid_days=None)
    with pytest.raises(NotYetValid):
        _redeem(uow_factory, upcoming, shop.shibuya)
    with uow_factory() as uow:
        assert {held.status for held in uow.session.exec(CustomerCoupon.__table__.select())} == {"issued"}
    assert _redeem(uow_factory, code, shop.shibuya, total=2000).discount == 300


def test_redeemed_with_a_purchase_takes_its_customer_and_total(uow_factory, shop, issue):
    code = issue(benefit_kind="percent_off", benefit_value=10)
    with uow_factory() as uow:
        purchase = purchases.record_purchase(uow=uow, customer_id=shop.taro, store_id=shop.shibuya, total=3240)
        uow.commit()
    with pytest.raises(NotThisCustomer):
        _redeem(uow_factory, code, shop.shibuya, purchase_id=purchase.purchase.id)
    with uow_factory() as uow:
        own = purchases.record_purchase(uow=uow, customer_id=shop.hanako, store_id=shop.shibuya, total=3249)
        uow.commit()
    done = _redeem(uow_factory, code, shop.shibuya, purchase_id=own.purchase.id)
    assert (done.discount, done.held.purchase_id) == (324, own.purchase.id)


def test_without_a_total_a_yen_coupon_says_its_value_and_a_percentage_says_nothing(uow_factory, shop, issue):
    assert _redeem(uow_factory, issue(), shop.shibuya).discount == 300
    assert _redeem(uow_factory, issue(benefit_kind="percent_off", benefit_value=10), shop.shibuya).discount is None
    free = issue(benefit_kind="free_item", benefit_item="コーヒー", benefit_value=400)
    assert _redeem(uow_factory, free, shop.shinjuku).discount == 0
