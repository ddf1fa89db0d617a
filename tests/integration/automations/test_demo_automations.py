"""The demo: LINE friends with different histories get visibly different messages in the simulator, and a
win-back coupon flow made from the demo's flow coupon reaches the one who has not come for 65 days."""

from __future__ import annotations

from sqlmodel import select

from crm_core import automations, demo, flows, segments
from crm_core.models import Automation, Coupon, CustomerCoupon


def test_the_demo_friends_get_a_replenishment_reminder_and_recommendations_on_line(services, line, uow_factory):
    with uow_factory() as uow:
        added = demo.seed(uow=uow, zone=services.settings.zone)
        automations.refresh(uow=uow, zone=services.settings.zone)
        uow.commit()
    assert added["automations"] == 3
    with uow_factory() as uow:
        assert not any(demo.seed(uow=uow).values())  # a second run adds nothing
        assert all(row.enabled for row in uow.session.exec(select(Automation)))
    line.import_users(
        {"line_user_id": f.line_user_id, "display_name": f.name, "following": True, "ever_followed": True}
        for f in demo.LINE_FRIENDS
    )

    with uow_factory() as uow:
        report = automations.run_due(uow=uow, render=services.automation_render(uow), zone=services.settings.zone)
    services.delivery.deliver_due()

    beans, cake, lapsed = demo.LINE_FRIENDS
    to_beans, to_cake = str(line.messages_to(beans.line_user_id)), str(line.messages_to(cake.line_user_id))
    assert "そろそろなくなる頃" in to_beans and "ブラジル サントス 200g" in to_beans and "30日ごと" in to_beans
    assert "こちらもおすすめ" not in to_beans
    assert "こちらもおすすめ" in to_cake and to_cake.count("をご購入いただいたため") == 3
    assert "そろそろなくなる頃" not in to_cake
    assert report.decided["replenishment"]["send"] >= 1 and report.decided["recommendations"]["send"] == 1
    assert report.decided["birthday"]["skipped:no_line"] > 0  # the other demo customers are not on LINE

    assert line.messages_to(lapsed.line_user_id) == []  # no automation fits a customer who stopped coming

    with uow_factory() as uow:
        coupon = uow.session.exec(select(Coupon).where(Coupon.title == "おかえりなさい 300円引き")).one()
        segment = segments.save_segment(
            uow=uow, name="休眠60日", rules={"conditions": [{"field": "recency_days", "op": ">=", "value": 60}]}
        )
        uow.session.flush()
        flow = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(
                name="おかえり", trigger="lapsed", params={"days": 60}, segment_id=segment.id, coupon_id=coupon.id
            ),
        )
        uow.commit()
        key = automations.flow_key(flow.id)
    with uow_factory() as uow:
        report = automations.run_flows(uow=uow, render=services.automation_render(uow), zone=services.settings.zone)
    services.delivery.deliver_due()

    assert "おかえりなさい 300円引き" in str(line.messages_to(lapsed.line_user_id)) or report.decided[key]["holdout"]
    assert report.decided[key]["skipped:no_line"] > 0  # lapsed demo customers who are not on LINE get nothing
    with uow_factory() as uow:
        holders = set(uow.session.exec(select(CustomerCoupon.customer_id)))
    assert len(holders) == report.decided[key]["send"]
