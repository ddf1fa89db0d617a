"""The jobs: automations.run every minute, recommendations.refresh at 02:30 in the shop's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.jobs import JOBS
from tests.integration.automations.conftest import TOKYO


def test_the_jobs_decide_and_refresh_and_say_what_they_did(shop, services, clock):
    assert JOBS["automations.run"].every_seconds == 60
    refresh = JOBS["recommendations.refresh"]
    upcoming = refresh.trigger(TOKYO).get_next_fire_time(None, datetime(2026, 11, 22, 12, 0, tzinfo=TOKYO))
    assert upcoming == datetime(2026, 11, 23, 2, 30, tzinfo=TOKYO)

    assert JOBS["automations.run"].run(services) == "nothing due"
    shop.switch_on("first_purchase", "birthday")
    shop.buy(shop.customer("a"), clock.now() - timedelta(minutes=1), "BEAN")
    shop.buy(shop.customer("b", line=False), clock.now() - timedelta(minutes=1), "BEAN")
    assert JOBS["automations.run"].run(services) == "first_purchase: send 1, holdout 0, skipped 1 (no_line 1)"
    assert JOBS["automations.run"].run(services) == "nothing due"
    assert refresh.run(services).startswith("0 product pair(s), typical interval for 0 product(s)")
