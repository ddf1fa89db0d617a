"""Scheduled jobs. Ids are stable (PRODUCT.md); each job gets the services from its composition root.

A job is `fn(services) -> str`: it does its work through crm_core and the gateway and returns a
one-line summary that `kizuna jobs run ID` prints.

The frequent jobs run on intervals; the slow ones at a time of day in the shop's time zone
(KIZUNA_TIMEZONE). Each run without error is recorded, and a scheduler that starts runs at once
every job whose last run is older than its latest due time: a host restarted more often than a
job's period still runs it (APScheduler's misfire handling only helps within one process).

`install` puts them in APScheduler (in production on the job store in the database, where the jobs
keep their next runs across restarts and leaders; see scheduler.runner for who runs them): each by
its stable id, as a textual reference to `run_job` with the job id, coalesced, one instance at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crm_core import job_runs
from crm_core.errors import N_

log = logging.getLogger("kizuna.scheduler")


@dataclass(frozen=True)
class Job:
    id: str
    description: str
    run: Callable[[Any], str]
    every_seconds: int | None = None  # an interval job
    daily_at: str | None = None  # "HH:MM" in the shop's time zone

    def trigger(self, zone: ZoneInfo) -> BaseTrigger:
        """When APScheduler runs this job."""
        if self.daily_at is not None:
            hour, minute = (int(part) for part in self.daily_at.split(":"))
            return CronTrigger(hour=hour, minute=minute, timezone=zone)
        return IntervalTrigger(seconds=self.every_seconds, timezone=zone)

    def last_due(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The latest moment at or before `now` when this job was due to run."""
        if self.daily_at is None:
            return now - timedelta(seconds=self.every_seconds)
        hour, minute = (int(part) for part in self.daily_at.split(":"))
        local = now.astimezone(zone)
        due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due > local:
            due = (local - timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        return due.astimezone(UTC)


def deliver_outbox(services) -> str:
    return services.delivery.deliver_due().summary()


def sweep_webhook_events(services) -> str:
    processed = services.pump.sweep()
    return f"processed {processed} waiting webhook event(s)" if processed else "nothing waiting"


def expire_points(services, batch: int = 1000) -> str:
    """Expire every customer's due points, `batch` customers per transaction, until none is left."""
    from crm_core import points

    expired = 0
    while True:
        with services.uow_factory() as uow:
            done = points.expire_due(uow=uow, limit=batch)
            uow.commit()
        expired += done
        if not done:  # a batch with any customer in it expires at least one point
            return f"expired {expired} point(s)"


def refresh_tiers(services) -> str:
    from crm_core import purchases

    with services.uow_factory() as uow:
        changed = purchases.refresh_tiers(uow=uow)
        uow.commit()
    return f"{changed} customer(s) changed tier"


def run_automations(services) -> str:
    from crm_core import automations

    zone = services.settings.zone
    with services.uow_factory() as uow:
        report = automations.run_due(uow=uow, render=services.automation_render(uow), zone=zone)
    return report.summary()


def run_flows(services) -> str:
    from crm_core import automations

    zone = services.settings.zone
    with services.uow_factory() as uow:
        report = automations.run_flows(uow=uow, render=services.automation_render(uow), zone=zone, once_a_day=True)
    return report.summary()


def refresh_recommendations(services) -> str:
    from crm_core import automations

    with services.uow_factory() as uow:
        report = automations.refresh(uow=uow, zone=services.settings.zone)
        uow.commit()
    return report.summary()


JOBS: dict[str, Job] = {
    job.id: job
    for job in (
        Job("outbox.deliver", N_("Deliver what the outbox holds that may go now"), deliver_outbox, every_seconds=10),
        Job(
            "webhook.sweep",
            N_("Process webhook events no web worker finished (after a crash)"),
            sweep_webhook_events,
            every_seconds=30,
        ),
        Job("points.expire", N_("Expire point lots past their validity"), expire_points, daily_at="03:00"),
        Job(
            "tiers.refresh",
            N_("Move customers down whose 12-month spend no longer earns their tier"),
            refresh_tiers,
            daily_at="04:00",
        ),
        Job(
            "automations.run",
            N_("Decide the automations' messages that are due now and write them to the outbox"),
            run_automations,
            every_seconds=60,
        ),
        Job(
            "flows.run",
            N_("Decide the coupon flows' messages and coupons that are due now and write them to the outbox"),
            run_flows,
            every_seconds=60,
        ),
        Job(
            "recommendations.refresh",
            N_("Recompute recommendations and repurchase intervals from purchase history"),
            refresh_recommendations,
            daily_at="02:30",
        ),
    )
}


# Jobs persist in APScheduler's job store as a textual reference to `run_job` with the job id only (the
# services cannot be pickled): the scheduler process hands its services over here when it installs them.
_context: dict[str, Any] = {"services": None, "may_run": None}
MISFIRE_GRACE_SECONDS = None  # a late run still runs (once: runs missed meanwhile coalesce into it)


def use_services(services, *, may_run: Callable[[], bool] | None = None) -> None:
    """Hand this process's services to the jobs APScheduler runs; `may_run()` False skips a run (leader lost)."""
    _context["services"], _context["may_run"] = services, may_run


def run_job(job_id: str, services=None) -> str:
    """Run one job now and record its run when it finished without error; returns its summary.

    Without `services` it is a scheduled run (APScheduler calls it with the job id only): it uses the
    services handed over by `install`, runs only while this process leads, and logs its summary.
    """
    scheduled = services is None
    if scheduled:
        services, may_run = _context["services"], _context["may_run"]
        if services is None:
            raise RuntimeError("scheduler.jobs.install() hands the services over before a job runs")
        if may_run is not None and not may_run():
            log.info("%s not run: this scheduler no longer leads", job_id)
            return "not run: this scheduler no longer leads"
    started = time.monotonic()
    summary = JOBS[job_id].run(services)
    with services.uow_factory() as uow:
        job_runs.record_job_run(uow=uow, job_id=job_id, at=uow.now())
        uow.commit()
    if scheduled:  # a frequent job that found nothing to do is logged only at DEBUG, or it would drown the rest
        level = logging.DEBUG if summary.startswith("nothing") else logging.INFO
        log.log(level, "%s: %s (%.1f s)", job_id, summary, time.monotonic() - started)
    return summary


def due_now(services) -> list[str]:
    """The jobs whose last run is older than their latest due time (or that never ran)."""
    zone = services.settings.zone
    with services.uow_factory() as uow:
        now = uow.now()
        last_runs = job_runs.last_job_runs(uow=uow)
    return [job.id for job in JOBS.values() if job.id not in last_runs or last_runs[job.id] < job.last_due(now, zone)]


def _same_schedule(stored: BaseTrigger, wanted: BaseTrigger) -> bool:
    """Whether a stored job's trigger is the one this version wants (an interval's start does not count)."""
    return type(stored) is type(wanted) and str(stored) == str(wanted) and str(stored.timezone) == str(wanted.timezone)


def install(scheduler: BaseScheduler, services, *, may_run: Callable[[], bool] | None = None) -> BaseScheduler:
    """Add every job to `scheduler` under its stable id, one instance of each at a time; catch up at start.

    With a persistent job store (a started, paused scheduler), a stored job keeps its next run when its
    schedule is unchanged, and stored jobs this version no longer has are removed.
    """
    use_services(services, may_run=may_run)
    zone = services.settings.zone
    late = due_now(services)
    if late:
        log.info("catching up on %s", ", ".join(late))
    for stored in scheduler.get_jobs():
        if stored.id not in JOBS:
            scheduler.remove_job(stored.id)
            log.info("removed the stored job %s: this version has no such job", stored.id)
    for job in JOBS.values():
        trigger = job.trigger(zone)
        stored = scheduler.get_job(job.id)
        when = {}
        if job.id in late:
            when = {"next_run_time": datetime.now(UTC)}
        elif stored is not None and stored.next_run_time is not None and _same_schedule(stored.trigger, trigger):
            when = {"next_run_time": stored.next_run_time}
        scheduler.add_job(
            f"{__name__}:run_job",
            trigger,
            args=[job.id],
            id=job.id,
            name=job.description,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            **when,
        )
    return scheduler


def stored_next_runs(services) -> dict[str, datetime | None]:
    """Each job's next run as the job store holds it (None: paused); a job no scheduler stored is absent."""
    from sqlalchemy import select

    from crm_core.models import apscheduler_jobs

    with services.uow_factory() as uow:
        rows = uow.session.execute(select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)).all()
    return {job_id: None if at is None else datetime.fromtimestamp(at, UTC) for job_id, at in rows}
