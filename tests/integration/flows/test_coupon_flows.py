"""Coupon flows decided by the push engine: the coupon comes with the message, once per occurrence."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from crm_core import automations, coupons, flows, segments
from crm_core.coupons.definitions import CouponSpec
from crm_core.errors import InvalidFields
from crm_core.models import Coupon, CustomerCoupon, TimelineEntry
from tests.shop import TOKYO, Shop

TODAY = date(2026, 11, 22)  # the clock: 12:00 in Tokyo


def ago(days: int) -> datetime:
    day = TODAY - timedelta(days=days)
    return datetime(day.year, day.month, day.day, 12, tzinfo=TOKYO)


@pytest.fixture
def shop(services, clock) -> Shop:
    return Shop(services, clock)


def coupon(shop: Shop, **changes) -> int:
    spec = {"title": "おかえりなさいクーポン", "benefit_kind": "yen_off", "benefit_value": 500, "valid_days": 14}
    spec.update({"obtain": "flow", "per_customer_limit": None, **changes})
    with shop.uow_factory() as uow:
        made = coupons.define_coupon(uow=uow, spec=CouponSpec(**spec))
        uow.commit()
        return made.id


def win_back(shop: Shop, coupon_id: int, *, holdout_percent: int = 0, days: int = 60, **changes) -> int:
    with shop.uow_factory() as uow:
        segment = segments.save_segment(
            uow=uow, name=f"休眠 {days}", rules={"conditions": [{"field": "recency_days", "op": ">=", "value": days}]}
        )
        uow.session.flush()
        spec = flows.FlowSpec(
            name=f"おかえり {days}",
            trigger="lapsed",
            params={"days": days},
            segment_id=segment.id,
            coupon_id=coupon_id,
            holdout_percent=holdout_percent,
            **changes,
        )
        flow = flows.save_flow(uow=uow, spec=spec)
        uow.commit()
        return flow.id


def run_flows(shop: Shop, **kwargs):
    with shop.uow_factory() as uow:
        return automations.run_flows(uow=uow, render=shop.services.automation_render(uow), zone=TOKYO, **kwargs)


def held(shop: Shop) -> dict[int, list[CustomerCoupon]]:
    with shop.uow_factory() as uow:
        found: dict[int, list[CustomerCoupon]] = {}
        for row in uow.session.exec(select(CustomerCoupon).order_by(CustomerCoupon.id)):
            found.setdefault(row.customer_id, []).append(row)
        return found


def issued(shop: Shop, coupon_id: int) -> int:
    with shop.uow_factory() as uow:
        return uow.session.get(Coupon, coupon_id).issued


def test_a_win_back_flow_sends_its_coupon_to_lapsed_customers_once(shop):
    lapsed = shop.customer("佐藤 一郎")
    shop.buy(lapsed, ago(61))
    recent = shop.customer("鈴木 二郎")
    shop.buy(recent, ago(30))
    blocked = shop.customer("田中 三郎", blocked=True)
    shop.buy(blocked, ago(90))
    coupon_id = coupon(shop)
    flow_id = win_back(shop, coupon_id)
    key = automations.flow_key(flow_id)

    report = run_flows(shop)

    assert shop.outcomes(key) == {lapsed: ("send", None), blocked: ("skipped", "blocked")}
    assert report.decided[key]["send"] == 1
    mine = held(shop)
    assert list(mine) == [lapsed]
    (given,) = mine[lapsed]
    assert (given.obtained_by, given.status, given.seq) == ("flow", "issued", 1)
    assert given.expires_at == datetime(2026, 12, 6, tzinfo=TOKYO)  # 14 business days, today included
    assert issued(shop, coupon_id) == 1
    (message,) = shop.outbox()
    assert message.customer_id == lapsed and message.dedupe_key.startswith(f"auto:{key}:{lapsed}:lapse:")
    text = str(message.messages)
    assert "佐藤 一郎" in text and "おかえりなさいクーポン" in text and "¥500引き" in text
    assert "2026年12月5日(土)まで有効" in text
    with shop.uow_factory() as uow:
        entry = uow.session.exec(select(TimelineEntry).where(TimelineEntry.kind == "coupon_issued")).one()
        assert entry.customer_id == lapsed and entry.data["customer_coupon_id"] == given.id

    again = run_flows(shop)

    assert again.total == 0 and issued(shop, coupon_id) == 1 and len(shop.outbox()) == 1


def test_once_per_lapse_a_new_purchase_and_a_new_lapse_send_again(shop, clock):
    customer = shop.customer()
    shop.buy(customer, ago(70))
    coupon_id = coupon(shop, per_customer_limit=None)
    flow_id = win_back(shop, coupon_id)
    run_flows(shop)
    shop.buy(customer, ago(0))
    clock.advance(days=61)

    run_flows(shop)

    decisions = shop.decisions(automations.flow_key(flow_id))
    assert [d.outcome for d in decisions] == ["send", "send"]
    assert decisions[0].occurrence != decisions[1].occurrence
    assert [c.seq for c in held(shop)[customer]] == [1, 2]


def test_no_more_coupons_than_the_stock_and_none_past_the_customers_limit(shop):
    customers = [shop.customer(f"顧客{n}") for n in range(4)]
    for customer in customers:
        shop.buy(customer, ago(80))
    coupon_id = coupon(shop, stock=2, per_customer_limit=1)
    with shop.uow_factory() as uow:  # the first customer got this coupon another way already
        coupons.issue_coupon(uow=uow, coupon_id=coupon_id, customer_id=customers[0], idempotency_key="api:1")
        flow = flows.save_flow(  # once, today: a coupon one may hold once will do
            uow=uow,
            spec=flows.FlowSpec(
                name="本日限り",
                trigger="scheduled",
                params={"on": TODAY.isoformat()},
                coupon_id=coupon_id,
                holdout_percent=0,
            ),
        )
        uow.commit()
        flow_id = flow.id

    run_flows(shop, chunk=1)

    assert shop.outcomes(automations.flow_key(flow_id)) == {
        customers[0]: ("skipped", "coupon_limit"),
        customers[1]: ("send", None),
        customers[2]: ("skipped", "sold_out"),
        customers[3]: ("skipped", "sold_out"),
    }
    assert issued(shop, coupon_id) == 2
    assert sorted(held(shop)) == customers[:2]


def test_the_hold_out_group_gets_neither_message_nor_coupon(shop):
    customers = [shop.customer(f"顧客{n}") for n in range(40)]
    for customer in customers:
        shop.buy(customer, ago(65))
    coupon_id = coupon(shop, stock=None)
    flow_id = win_back(shop, coupon_id, holdout_percent=50)
    key = automations.flow_key(flow_id)

    run_flows(shop)

    outcomes = shop.outcomes(key)
    held_out = {c for c, (outcome, _) in outcomes.items() if outcome == "holdout"}
    assert held_out == {c for c in customers if automations.in_holdout(key, c, 50)}
    assert 0 < len(held_out) < 40
    assert set(held(shop)) == set(customers) - held_out
    assert {m.customer_id for m in shop.outbox()} == set(customers) - held_out


def test_a_paused_flow_or_one_outside_its_dates_decides_nothing(shop):
    customer = shop.customer()
    shop.buy(customer, ago(65))
    coupon_id = coupon(shop)
    win_back(shop, coupon_id, paused=True)
    win_back(shop, coupon_id, days=61, starts_on=TODAY + timedelta(days=1))
    win_back(shop, coupon_id, days=62, ends_on=TODAY - timedelta(days=1))

    assert run_flows(shop).total == 0
    assert held(shop) == {}


def test_a_flow_for_the_nth_purchase_fires_when_that_purchase_is_recorded(shop):
    customer = shop.customer()
    other = shop.customer("別の人")
    coupon_id = coupon(shop)
    with shop.uow_factory() as uow:
        flow = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(name="3回目", trigger="nth_purchase", params={"n": 3}, coupon_id=coupon_id),
        )
        uow.commit()
        key = automations.flow_key(flow.id)
    shop.buy(customer, ago(20))
    shop.buy(customer, ago(1))
    shop.buy(other, ago(2))
    assert run_flows(shop, customer_ids=[customer]).total == 0

    shop.buy(customer, ago(0))
    run_flows(shop, customer_ids=[customer])

    assert shop.outcomes(key) == {customer: ("send", None)}


@pytest.mark.parametrize(
    ("changes", "wrong"),
    [
        ({"starts_on": date(2026, 12, 1), "ends_on": date(2026, 11, 30)}, {"ends_on"}),
        ({"trigger": "full_moon"}, {"trigger"}),
        ({"params": {"days": 0}}, {"days"}),
        ({"holdout_percent": 90}, {"holdout_percent"}),
        ({"name": " "}, {"name"}),
        ({"templates": {"ja": {"text": "{{ secret }}"}}}, {"templates"}),
    ],
)
def test_a_wrong_flow_is_refused_field_by_field_and_nothing_is_saved(shop, changes, wrong):
    coupon_id = coupon(shop)
    spec = {"name": "おかえり", "trigger": "lapsed", "params": {"days": 60}, "coupon_id": coupon_id, **changes}
    with shop.uow_factory() as uow:
        with pytest.raises(InvalidFields) as refused:
            flows.save_flow(uow=uow, spec=flows.FlowSpec(**spec))
        assert set(refused.value.errors) == wrong
        uow.commit()
        assert flows.list_flows(uow=uow) == []


def test_a_flow_that_comes_back_needs_a_coupon_without_a_per_customer_limit(shop):
    once = coupon(shop, per_customer_limit=1)
    with shop.uow_factory() as uow:
        for trigger, params in (("lapsed", {"days": 60}), ("birthday_month", {}), ("scheduled", {"day_of_month": 1})):
            with pytest.raises(InvalidFields) as refused:
                flows.save_flow(
                    uow=uow, spec=flows.FlowSpec(name=trigger, trigger=trigger, params=params, coupon_id=once)
                )
            assert set(refused.value.errors) == {"coupon_id"}
        # once ever (joining, the Nth purchase) or on one date: the limit is no obstacle
        for trigger, params in (("member_joined", {}), ("scheduled", {"on": "2026-12-24"})):
            flows.save_flow(uow=uow, spec=flows.FlowSpec(name=trigger, trigger=trigger, params=params, coupon_id=once))


def test_a_coupon_customers_claim_cannot_be_a_flows(shop):
    coupon_id = coupon(shop, obtain="claim")
    with shop.uow_factory() as uow:
        with pytest.raises(InvalidFields) as refused:
            flows.save_flow(
                uow=uow, spec=flows.FlowSpec(name="x", trigger="lapsed", params={"days": 60}, coupon_id=coupon_id)
            )
        assert set(refused.value.errors) == {"coupon_id"}


def test_a_welcome_flow_waits_for_a_member_who_joins_at_the_till_to_add_the_shop_on_line(shop, clock):
    from crm_core.models import ChannelIdentity

    at_the_till = shop.customer("店頭 入会", line=False)
    with shop.uow_factory() as uow:
        flow = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(name="入会特典", trigger="member_joined", coupon_id=coupon(shop), holdout_percent=0),
        )
        uow.commit()
        key = automations.flow_key(flow.id)

    assert run_flows(shop).total == 0  # not decided "no_line" for good: asked again while the joining is recent
    clock.advance(hours=2)
    with shop.uow_factory() as uow:  # they add the shop on LINE and agree
        uow.session.add(
            ChannelIdentity(
                channel="line", address="U" + "a" * 32, customer_id=at_the_till, display_name="店頭", language="ja",
                followed=True, consented_at=clock.now(), created_at=clock.now(), updated_at=clock.now(),
            )
        )  # fmt: skip
        uow.commit()
    run_flows(shop)

    assert shop.outcomes(key) == {at_the_till: ("send", None)}
    clock.advance(days=4)  # past the window, a member who never came on LINE is simply not asked any more
    late = shop.customer("LINEなし", line=False)
    clock.advance(days=4)
    assert run_flows(shop).total == 0 and late not in shop.outcomes(key)


def test_a_flow_that_cannot_be_decided_does_not_stop_the_others(shop):
    from crm_core.models import Segment

    customer = shop.customer()
    shop.buy(customer, ago(70))
    coupon_id = coupon(shop)
    broken = win_back(shop, coupon_id, days=60)
    working = win_back(shop, coupon_id, days=61)
    with shop.uow_factory() as uow:  # a segment stored by an older version with a field that no longer exists
        segment = uow.session.get(Segment, flows.get_flow(uow=uow, flow_id=broken).segment_id)
        segment.rules = {"match": "all", "conditions": [{"field": "favourite_colour", "op": "in", "value": ["red"]}]}
        uow.commit()

    report = run_flows(shop)

    assert report.decided[automations.flow_key(working)]["send"] == 1
    assert shop.decisions(automations.flow_key(broken)) == []


def test_the_job_asks_a_win_back_flow_once_a_business_day_and_again_after_a_change(shop, clock):
    first = shop.customer("一人目")
    shop.buy(first, ago(70))
    flow_id = win_back(shop, coupon(shop))
    key = automations.flow_key(flow_id)
    assert run_flows(shop, once_a_day=True).decided[key]["send"] == 1

    second = shop.customer("二人目")
    shop.buy(second, ago(80))
    assert run_flows(shop, once_a_day=True).total == 0  # the same business day: not asked again
    with shop.uow_factory() as uow:  # a marketer changes the flow: asked again today
        flow = flows.get_flow(uow=uow, flow_id=flow_id)
        spec = flows.FlowSpec(
            name=flow.name, trigger=flow.trigger, params=flow.params, segment_id=flow.segment_id,
            coupon_id=flow.coupon_id, holdout_percent=5,
        )  # fmt: skip
        flows.save_flow(uow=uow, spec=spec, flow_id=flow_id)
        uow.commit()
    assert run_flows(shop, once_a_day=True).decided[key]["send"] == 1

    third = shop.customer("三人目")
    shop.buy(third, ago(90))
    clock.advance(days=1)  # the next business day
    assert set(run_flows(shop, once_a_day=True).decided[key]) >= {"send"}
    assert third in shop.outcomes(key)
