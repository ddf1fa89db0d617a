"""A flow's settings at their edges, the triggers not covered elsewhere, the dry run and the coupon's results."""

from __future__ import annotations

import pytest
from sqlmodel import select

from crm_core import automations, coupons, flows, points
from crm_core.errors import InvalidFields
from crm_core.models import CustomerCoupon, Purchase
from tests.integration.flows.test_coupon_flows import ago, coupon, run_flows
from tests.shop import Shop


@pytest.fixture
def shop(services, clock) -> Shop:
    return Shop(services, clock)


def _refused(shop: Shop, **spec) -> set[str]:
    coupon_id = coupon(shop)
    with shop.uow_factory() as uow:
        try:
            flows.save_flow(uow=uow, spec=flows.FlowSpec(**{"name": "x", "coupon_id": coupon_id, **spec}))
        except InvalidFields as wrong:
            return set(wrong.errors)
        return set()


@pytest.mark.parametrize(
    ("trigger", "name", "low", "high"),
    [("nth_purchase", "n", 1, 1_000), ("lapsed", "days", 1, 3_650), ("points_threshold", "points", 1, 10_000_000)],
)
def test_each_triggers_number_takes_its_range(shop, trigger, name, low, high):
    for good in (low, high):
        assert _refused(shop, trigger=trigger, params={name: good}, name=f"{trigger} {good}") == set()
    for wrong in (low - 1, high + 1):
        assert _refused(shop, trigger=trigger, params={name: wrong}) == {name}


def test_the_other_settings_at_their_edges(shop):
    assert _refused(shop, trigger="tier_reached", params={"tier": "platinum"}) == {"tier"}
    assert _refused(shop, trigger="scheduled", params={}) == {"on"}
    assert _refused(shop, trigger="scheduled", params={"on": "2026-13-01"}) == {"on"}
    assert _refused(shop, trigger="scheduled", params={"day_of_month": 29}) == {"day_of_month"}
    assert _refused(shop, trigger="scheduled", params={"day_of_month": 28}, name="28") == set()
    assert _refused(shop, trigger="member_joined", holdout_percent=51) == {"holdout_percent"}
    assert _refused(shop, trigger="member_joined", holdout_percent=50, name="50") == set()
    assert _refused(shop, trigger="member_joined", name="x" * 101) == {"name"}
    assert _refused(shop, trigger="member_joined", name="y" * 100) == set()
    assert _refused(shop, trigger="member_joined", segment_id=999) == {"segment_id"}
    assert _refused(shop, trigger="member_joined", coupon_id=0) == {"coupon_id"}
    assert _refused(shop, trigger="member_joined", starts_on="tomorrow") == {"starts_on"}


def test_a_points_balance_and_a_tier_each_bring_the_coupon_once(shop):
    rich = shop.customer("ポイント長者")
    gold = shop.customer("ゴールド", tier="gold")
    first, second = coupon(shop), coupon(shop)
    with shop.uow_factory() as uow:
        points.grant(uow=uow, customer_id=rich, amount=600, idempotency_key="g")
        by_points = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(
                name="500pt", trigger="points_threshold", params={"points": 500}, coupon_id=first,
                holdout_percent=0,
            ),
        )  # fmt: skip
        by_tier = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(
                name="gold", trigger="tier_reached", params={"tier": "gold"}, coupon_id=second, holdout_percent=0
            ),
        )
        uow.commit()

    run_flows(shop)
    run_flows(shop)

    assert shop.outcomes(automations.flow_key(by_points.id)) == {rich: ("send", None)}
    assert shop.outcomes(automations.flow_key(by_tier.id)) == {gold: ("send", None)}


def test_a_scheduled_flow_sends_on_its_day_only(shop, clock):
    customer = shop.customer()
    coupon_id = coupon(shop)
    with shop.uow_factory() as uow:
        flow = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(
                name="月初", trigger="scheduled", params={"day_of_month": 23}, coupon_id=coupon_id, holdout_percent=0
            ),
        )
        uow.commit()
    key = automations.flow_key(flow.id)
    assert run_flows(shop).total == 0  # the 22nd
    clock.advance(days=1)
    run_flows(shop)
    assert shop.outcomes(key) == {customer: ("send", None)}


def test_the_dry_run_counts_without_writing_and_the_results_count_the_coupons_used(shop, clock):
    friend = shop.customer("友だち")
    blocked = shop.customer("ブロック", blocked=True)
    for customer in (friend, blocked):
        shop.buy(customer, ago(70))
    coupon_id = coupon(shop)
    spec = flows.FlowSpec(
        name="おかえり", trigger="lapsed", params={"days": 60}, coupon_id=coupon_id, holdout_percent=0
    )
    with shop.uow_factory() as uow:
        seen = flows.dry_run(uow=uow, spec=spec.check(uow), zone=shop.services.settings.zone)
        assert (seen.candidates, seen.send, seen.holdout, seen.skipped) == (2, 1, 0, {"blocked": 1})
        assert uow.session.exec(select(CustomerCoupon)).first() is None
        flow = flows.save_flow(uow=uow, spec=spec)
        uow.commit()
        flow_id = flow.id
    run_flows(shop)
    with shop.uow_factory() as uow:
        assert flows.coupon_results(uow=uow, flow_id=flow_id) == flows.CouponResults(1, 0, 0, 0)
        held = uow.session.exec(select(CustomerCoupon)).one()
        purchase = Purchase(
            external_id="R-1", customer_id=friend, store_id=shop.store_id, total=2500, refunded_total=500,
            occurred_at=clock.now(), created_at=clock.now(),
        )  # fmt: skip
        uow.session.add(purchase)
        uow.session.flush()
        coupons.redeem_coupon(uow=uow, code=held.code, store_id=shop.store_id, total=3000, purchase_id=None)
        redeemed = uow.session.get(CustomerCoupon, held.id)
        redeemed.purchase_id = purchase.id
        uow.commit()
        assert flows.coupon_results(uow=uow, flow_id=flow_id) == flows.CouponResults(1, 1, 2000, 500)
        assert flows.coupon_results(uow=uow, flow_id=flow_id + 1) is None


def test_saving_a_flow_again_changes_it_and_pausing_stops_it(shop):
    first, second = coupon(shop), coupon(shop)
    with shop.uow_factory() as uow:
        flow = flows.save_flow(
            uow=uow, spec=flows.FlowSpec(name="前", trigger="lapsed", params={"days": 60}, coupon_id=first)
        )
        uow.commit()
        flow_id = flow.id
    with shop.uow_factory() as uow:
        changed = flows.FlowSpec(
            name="後", trigger="nth_purchase", params={"n": 2}, coupon_id=second, holdout_percent=20, paused=True
        )
        flows.save_flow(uow=uow, spec=changed, flow_id=flow_id)
        uow.commit()
    with shop.uow_factory() as uow:
        saved = flows.get_flow(uow=uow, flow_id=flow_id)
        assert (saved.name, saved.trigger, saved.params, saved.coupon_id, saved.holdout_percent, saved.paused) == (
            "後", "nth_purchase", {"n": 2}, second, 20, True,
        )  # fmt: skip
        assert automations.running_flow_keys(uow=uow, zone=shop.services.settings.zone) == []
        assert flows.set_paused(uow=uow, flow_id=flow_id, paused=False).paused is False
        uow.commit()
        assert automations.running_flow_keys(uow=uow, zone=shop.services.settings.zone) == [
            automations.flow_key(flow_id)
        ]
