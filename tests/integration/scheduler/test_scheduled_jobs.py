"""The slow jobs run at a time of day in the shop's time zone, and a scheduler that starts catches up."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler

from crm_core import job_runs
from scheduler.jobs import JOBS, install

TOKYO = ZoneInfo("Asia/Tokyo")


def _last_ran(uow_factory, **when: datetime) -> None:
    with uow_factory() as uow:
        for job_id, at in when.items():
            job_runs.record_job_run(uow=uow, job_id=job_id.replace("_", "."), at=at)
        uow.commit()


def test_slow_jobs_run_daily_at_night_in_the_shops_time_zone():
    expire, tiers = JOBS["points.expire"], JOBS["tiers.refresh"]
    for now_in_tokyo, expected in (
        (datetime(2026, 11, 22, 2, 59, tzinfo=TOKYO), datetime(2026, 11, 21, 3, 0, tzinfo=TOKYO)),
        (datetime(2026, 11, 22, 3, 0, tzinfo=TOKYO), datetime(2026, 11, 22, 3, 0, tzinfo=TOKYO)),
        (datetime(2026, 11, 22, 23, 0, tzinfo=TOKYO), datetime(2026, 11, 22, 3, 0, tzinfo=TOKYO)),
    ):
        assert expire.last_due(now_in_tokyo.astimezone(UTC), TOKYO) == expected
    upcoming = tiers.trigger(TOKYO).get_next_fire_time(None, datetime(2026, 11, 22, 12, 0, tzinfo=TOKYO))
    assert upcoming == datetime(2026, 11, 23, 4, 0, tzinfo=TOKYO)
    assert JOBS["outbox.deliver"].every_seconds == 10 and JOBS["webhook.sweep"].every_seconds == 30


def test_a_scheduler_that_starts_runs_at_once_the_jobs_it_missed(services, clock, uow_factory):
    # the clock says 2026-11-22 12:00 in Tokyo; the host restarted every few hours since yesterday evening
    _last_ran(
        uow_factory,
        tiers_refresh=datetime(2026, 11, 21, 20, 0, tzinfo=TOKYO),  # before today's 04:00: missed
        points_expire=datetime(2026, 11, 22, 3, 5, tzinfo=TOKYO),  # after today's 03:00: done
        outbox_deliver=clock.now(),
        webhook_sweep=clock.now(),
        automations_run=clock.now(),
        flows_run=clock.now(),
        recommendations_refresh=clock.now(),
    )
    ran: list[str] = []
    done = threading.Event()

    def listen(event):
        ran.append(event.job_id)
        if event.job_id == "tiers.refresh":
            done.set()

    scheduler = install(BackgroundScheduler(timezone="UTC"), services)
    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    try:
        assert done.wait(timeout=10), "tiers.refresh did not catch up at start"
        expire_next = scheduler.get_job("points.expire").next_run_time
    finally:
        scheduler.shutdown(wait=True)

    assert ran == ["tiers.refresh"]
    assert expire_next.astimezone(TOKYO).time() == time(3, 0)
    with uow_factory() as uow:
        assert job_runs.last_job_runs(uow=uow)["tiers.refresh"] == clock.now()


def test_a_job_that_never_ran_runs_at_start_and_records_its_run(services, clock, uow_factory):
    _last_ran(
        uow_factory,
        tiers_refresh=clock.now(),
        outbox_deliver=clock.now(),
        webhook_sweep=clock.now(),
        automations_run=clock.now(),
        flows_run=clock.now(),
        recommendations_refresh=clock.now(),
    )
    done = threading.Event()
    scheduler = install(BackgroundScheduler(timezone="UTC"), services)
    scheduler.add_listener(lambda event: event.job_id == "points.expire" and done.set(), EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        assert done.wait(timeout=10)
    finally:
        scheduler.shutdown(wait=True)
    with uow_factory() as uow:
        assert job_runs.last_job_runs(uow=uow)["points.expire"] == clock.now()


def test_the_expiry_job_expires_everyone_due_however_many_they_are(services, clock, uow_factory):
    """`expire_due` takes a batch of customers at a time; the nightly job goes on until none is left."""
    from datetime import timedelta

    from sqlmodel import select

    from crm_core import customers, points
    from crm_core.models import PointLot
    from scheduler.jobs import expire_points

    ids = []
    with uow_factory() as uow:
        for n in range(5):
            customer = customers.create_customer(uow=uow, name=f"顧客 {n}")
            uow.session.flush()
            entry = points.grant(uow=uow, customer_id=customer.id, amount=100 + n, idempotency_key=f"t:{n}")
            lot = uow.session.exec(select(PointLot).where(PointLot.entry_id == entry.id)).one()
            lot.expires_at = clock.now() - timedelta(seconds=1)
            ids.append(customer.id)
        uow.commit()

    assert expire_points(services, batch=2) == "expired 510 point(s)"

    with uow_factory() as uow:
        assert [points.balance_of(uow=uow, customer_id=i) for i in ids] == [0] * 5
