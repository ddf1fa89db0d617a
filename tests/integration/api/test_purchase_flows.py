"""A purchase through the API triggers the coupon flows it completes at once, not a minute later."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from crm_core import automations, coupons, flows
from crm_core.coupons.definitions import CouponSpec
from crm_core.models import CustomerCoupon
from tests.shop import Shop


def test_the_third_purchase_issues_the_flows_coupon_before_the_answer(api, services, clock, line):
    shop = Shop(services, clock)
    line_user_id = line.add_user("山田 花子")
    line.follow(line_user_id)
    customer = shop.customer("山田 花子", address=line_user_id)
    shop.buy(customer, clock.now() - timedelta(days=10))
    shop.buy(customer, clock.now() - timedelta(days=1))
    with shop.uow_factory() as uow:
        coupon = coupons.define_coupon(
            uow=uow,
            spec=CouponSpec(
                title="3回目の感謝", benefit_kind="yen_off", benefit_value=300, valid_days=30, obtain="flow"
            ),
        )
        uow.session.flush()
        flow = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(name="3回目", trigger="nth_purchase", params={"n": 3}, coupon_id=coupon.id),
        )
        uow.commit()
        key = automations.flow_key(flow.id)

    answer = api.post(
        "/purchases", json={"external_id": "POS-3", "customer_id": customer, "store_code": "SHIBUYA", "total": 1200}
    )

    assert answer.status_code == 201
    services.pump.wait_idle()  # the flows run on the event workers right after the commit
    assert shop.outcomes(key) == {customer: ("send", None)}
    with shop.uow_factory() as uow:
        (given,) = uow.session.exec(select(CustomerCoupon)).all()
        assert (given.customer_id, given.coupon_id, given.obtained_by) == (customer, coupon.id, "flow")
    services.pump.wait_idle()
    services.delivery.deliver_due()
    receipt, coupon_message = line.messages_to(line_user_id)
    assert "3回目の感謝" in str(coupon_message) and "¥300引き" in str(coupon_message)
    # the same purchase again issues nothing more
    again = api.post(
        "/purchases", json={"external_id": "POS-3", "customer_id": customer, "store_code": "SHIBUYA", "total": 1200}
    )
    assert again.status_code == 200
    assert len(shop.decisions(key)) == 1
