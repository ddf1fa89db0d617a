"""Coupon flows under real concurrency (PostgreSQL): runs racing each other and customers' claims never issue a
coupon twice for one occurrence, nor more than the stock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from crm_core import automations, coupons, flows
from crm_core.coupons.definitions import CouponSpec
from crm_core.errors import CouponRefused
from crm_core.models import Coupon, CustomerCoupon
from tests.shop import TOKYO, Shop
from tests.threads import together


@pytest.fixture
def shop(services, clock, database_url) -> Shop:
    if not database_url.startswith("postgresql"):
        pytest.skip("real concurrency needs PostgreSQL")
    return Shop(services, clock)


def _flow(shop: Shop, *, stock: int | None, obtain_claim_too: bool = False) -> tuple[int, int]:
    with shop.uow_factory() as uow:
        coupon = coupons.define_coupon(
            uow=uow,
            spec=CouponSpec(
                title="限定クーポン",
                benefit_kind="yen_off",
                benefit_value=100,
                valid_days=7,
                obtain="flow",
                stock=stock,
                per_customer_limit=None,
            ),
        )
        uow.session.flush()
        flow = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(
                name="おかえり", trigger="lapsed", params={"days": 30}, coupon_id=coupon.id, holdout_percent=0
            ),
        )
        uow.commit()
        return coupon.id, flow.id


def _run(shop: Shop, chunk: int):
    with shop.uow_factory() as uow:
        return automations.run_flows(uow=uow, render=shop.services.automation_render(uow), zone=TOKYO, chunk=chunk)


def _counts(shop: Shop, coupon_id: int) -> tuple[int, int]:
    with shop.uow_factory() as uow:
        held = uow.session.exec(
            select(func.count()).select_from(CustomerCoupon).where(CustomerCoupon.coupon_id == coupon_id)
        ).one()
        return held, uow.session.get(Coupon, coupon_id).issued


def test_three_racing_runs_issue_one_coupon_per_customer(shop, clock):
    customers = [shop.customer(f"顧客{n}") for n in range(30)]
    for customer in customers:
        shop.buy(customer, clock.now() - timedelta(days=40))
    coupon_id, flow_id = _flow(shop, stock=None)

    together(3, lambda n: _run(shop, chunk=4 + n))

    with shop.uow_factory() as uow:
        holders = uow.session.exec(select(CustomerCoupon.customer_id)).all()
    assert sorted(holders) == sorted(customers)
    assert _counts(shop, coupon_id) == (30, 30)
    assert len(shop.decisions(automations.flow_key(flow_id))) == 30


def test_a_flow_and_the_api_issuing_at_once_never_pass_the_stock(shop, clock):
    customers = [shop.customer(f"顧客{n}") for n in range(40)]
    for customer in customers:
        shop.buy(customer, clock.now() - timedelta(days=40))
    coupon_id, flow_id = _flow(shop, stock=25)

    def act(n):
        if n == 0:
            return _run(shop, chunk=5)
        with shop.uow_factory() as uow:  # the API issuing the same coupon to the same customers meanwhile
            issued = coupons.issue_coupon(
                uow=uow, coupon_id=coupon_id, customer_id=customers[n], idempotency_key=f"api:{n}"
            )
            uow.commit()
            return issued

    results = together(21, act)

    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, CouponRefused)], results
    held, issued = _counts(shop, coupon_id)
    assert held == issued <= 25
    outcomes = shop.outcomes(automations.flow_key(flow_id))
    sent = sum(1 for outcome, _ in outcomes.values() if outcome == "send")
    api = sum(1 for r in results[1:] if not isinstance(r, Exception))
    assert sent + api == held
    # whoever the flow left undecided (a chunk refused by the stock's CHECK) is decided by the next run
    _run(shop, chunk=5)
    assert set(shop.outcomes(automations.flow_key(flow_id))) == set(customers)
    assert _counts(shop, coupon_id)[0] == _counts(shop, coupon_id)[1] == 25
