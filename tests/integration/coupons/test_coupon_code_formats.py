"""Each coupon's code format: its codes follow it, a till finds them however they are typed, a bad format saves
nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from crm_core import coupons
from crm_core.errors import InvalidFields
from crm_core.models import Coupon


def test_codes_follow_their_coupons_format_and_are_found_as_typed(uow_factory, shop, define):
    digits = define(code_prefix="xmas", code_alphabet="digits", code_length=8, per_customer_limit=None)
    plain = define()
    with uow_factory() as uow:
        held = [coupons.issue_coupon(uow=uow, coupon_id=digits, customer_id=shop.hanako).coupon for _ in range(5)]
        default = coupons.issue_coupon(uow=uow, coupon_id=plain, customer_id=shop.hanako).coupon
        uow.commit()
        codes = [h.code for h in held]
        assert all(code.startswith("XMAS") and len(code) == 12 and code[4:].isdigit() for code in codes)
        assert len(set(codes)) == 5
        assert len(default.code) == 12 and not set("01OI") & set(default.code)

    typed = "ｘｍａｓ－" + codes[0][4:].replace("0", "O").replace("1", "I")  # as a till might get it
    with uow_factory() as uow:
        done = coupons.redeem_coupon(uow=uow, code=typed, store_id=shop.shibuya)
        uow.commit()
    assert done.held.code == codes[0]


def test_a_bad_format_is_refused_by_field_and_saves_nothing(uow_factory, shop):
    spec = coupons.CouponSpec(
        title="x", benefit_kind="yen_off", benefit_value=100, valid_days=7, code_prefix="OK", code_length=4
    )
    with uow_factory() as uow, pytest.raises(InvalidFields) as refused:
        coupons.define_coupon(uow=uow, spec=spec)
    assert set(refused.value.errors) == {"code_prefix", "code_length"}
    with uow_factory() as uow:
        assert uow.session.exec(select(Coupon)).all() == []


def test_the_format_is_kept_when_other_fields_change(uow_factory, shop, define):
    coupon_id = define(code_prefix="HARU", code_alphabet="digits", code_length=10)
    with uow_factory() as uow:
        coupon = coupons.update_coupon(uow=uow, coupon_id=coupon_id, title="春の100円引き")
        uow.commit()
        assert (coupon.code_prefix, coupon.code_alphabet, coupon.code_length) == ("HARU", "digits", 10)
