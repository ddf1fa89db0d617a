"""Each automation keeps a stable hold-out group: recorded the first time, never moved by a new share."""

from __future__ import annotations

from datetime import datetime

from crm_core import automations
from tests.integration.automations.conftest import TOKYO


def _set_share(shop, percent):
    with shop.uow_factory() as uow:
        automations.update_automation(uow=uow, key="birthday", enabled=True, holdout_percent=percent)
        uow.commit()


def test_the_holdout_is_stable_when_the_share_changes(shop, clock):
    customers = [shop.customer(f"c{n}", birth_month=11) for n in range(40)]
    _set_share(shop, 50)
    shop.run()
    first = shop.outcomes("birthday")
    held = {cid for cid, (outcome, _) in first.items() if outcome == "holdout"}
    assert 8 <= len(held) <= 32  # about half
    assert held == {cid for cid in customers if automations.in_holdout("birthday", cid, 50)}
    assert len(shop.outbox()) == 40 - len(held)  # no message for the hold-out group

    _set_share(shop, 0)
    newcomer = shop.customer("newcomer", birth_month=11)
    clock.set(datetime(2027, 11, 2, 10, 0, tzinfo=TOKYO))
    shop.run()

    next_year = {d.customer_id: d.outcome for d in shop.decisions("birthday") if d.occurrence == "birthday:2027"}
    assert {cid for cid, outcome in next_year.items() if outcome == "holdout"} == held
    assert next_year[newcomer] == "send"  # assigned under the share now in force


def test_skipped_customers_get_no_holdout_assignment_and_outcomes_are_counted(shop):
    from sqlmodel import select

    from crm_core.models import AutomationHoldout

    blocked = shop.customer("blocked", blocked=True, birth_month=11)
    _set_share(shop, 50)
    report = shop.run()
    assert report.decided["birthday"]["skipped:blocked"] == 1
    with shop.uow_factory() as uow:
        assert uow.session.exec(select(AutomationHoldout).where(AutomationHoldout.customer_id == blocked)).all() == []
