"""The demo: two LINE friends with different histories get visibly different messages in the simulator."""

from __future__ import annotations

from sqlmodel import select

from crm_core import automations, demo
from crm_core.models import Automation


def test_the_demo_friends_get_a_replenishment_reminder_and_recommendations_on_line(services, line, uow_factory):
    with uow_factory() as uow:
        added = demo.seed(uow=uow, zone=services.settings.zone)
        automations.refresh(uow=uow, zone=services.settings.zone)
        uow.commit()
    assert added["automations"] == 2
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

    beans, cake = demo.LINE_FRIENDS
    to_beans, to_cake = str(line.messages_to(beans.line_user_id)), str(line.messages_to(cake.line_user_id))
    assert "そろそろなくなる頃" in to_beans and "ブラジル サントス 200g" in to_beans and "30日ごと" in to_beans
    assert "こちらもおすすめ" not in to_beans
    assert "こちらもおすすめ" in to_cake and to_cake.count("をご購入いただいたため") == 3
    assert "そろそろなくなる頃" not in to_cake
    assert report.decided["replenishment"]["send"] >= 1 and report.decided["recommendations"]["send"] == 1
    assert report.decided["birthday"]["skipped:no_line"] > 0  # the other demo customers are not on LINE
