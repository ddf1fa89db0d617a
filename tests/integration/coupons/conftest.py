"""A shop with two stores and two customers, and a helper to define coupons."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crm_core import coupons, customers
from crm_core.models import Store


@dataclass(frozen=True)
class Shop:
    hanako: int
    taro: int
    shibuya: int
    shinjuku: int


@pytest.fixture
def shop(uow_factory) -> Shop:
    with uow_factory() as uow:
        hanako = customers.create_customer(uow=uow, name="山田 花子")
        taro = customers.create_customer(uow=uow, name="佐藤 太郎")
        shibuya = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        shinjuku = Store(code="SHINJUKU", name="新宿店", created_at=uow.now())
        uow.session.add_all([shibuya, shinjuku])
        uow.commit()
        return Shop(hanako.id, taro.id, shibuya.id, shinjuku.id)


@pytest.fixture
def define(uow_factory):
    """Define a coupon (¥300 off, 7 days, one per customer unless told) and return its id."""

    def make(**fields) -> int:
        spec = coupons.CouponSpec(
            **{"title": "300円引き", "benefit_kind": "yen_off", "benefit_value": 300, "valid_days": 7, **fields}
        )
        with uow_factory() as uow:
            coupon = coupons.define_coupon(uow=uow, spec=spec)
            uow.commit()
            return coupon.id

    return make
