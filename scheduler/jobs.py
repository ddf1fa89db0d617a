"""Scheduled jobs. Ids are stable (PRODUCT.md); each job gets the services from its composition root.

A job is `fn(services) -> str`: it does its work through crm_core and the gateway and returns a
one-line summary that `kizuna jobs run ID` prints.

The frequent jobs run on intervals; the slow ones at a time of day in the shop's time zone
(KIZUNA_TIMEZONE). Each run without error is recorded, and a scheduler that starts runs at once
every job whose last run is older than its latest due time: a host restarted more often than a
job's period still runs it (APScheduler's misfire handling only helps within one process).
"""

from __future__ import annotations

import logging
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
    report = services.delivery.deliver_due()
    return (
        f"sent {report.sent}, retry later {report.retry_later}, failed {report.failed}, "
        f"cancelled {report.cancelled}, skipped {report.skipped}, held for LINE's monthly quota {report.held}"
    )


def sweep_webhook_events(services) -> str:
    processed = services.pump.sweep()
    return f"processed {processed} waiting webhook event(s)"


def expire_points(services) -> str:
    from crm_core import points

    with services.uow_factory() as uow:
        expired = points.expire_due(uow=uow)
        uow.commit()
    return f"expired {expired} point(s)"


def refresh_tiers(services) -> str:
    from crm_core import purchases

    with services.uow_factory() as uow:
        changed = purchases.refresh_tiers(uow=uow)
        uow.commit()
    return f"{changed} customer(s) changed tier"


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
    )
}


def run_job(job_id: str, services) -> str:
    """Run one job now and record its run when it finished without error; returns its summary."""
    summary = JOBS[job_id].run(services)
    with services.uow_factory() as uow:
        job_runs.record_job_run(uow=uow, job_id=job_id, at=uow.now())
        uow.commit()
    return summary


def due_now(services) -> list[str]:
    """The jobs whose last run is older than their latest due time (or that never ran)."""
    zone = ZoneInfo(services.settings.timezone)
    with services.uow_factory() as uow:
        now = uow.now()
        last_runs = job_runs.last_job_runs(uow=uow)
    return [job.id for job in JOBS.values() if job.id not in last_runs or last_runs[job.id] < job.last_due(now, zone)]


def install(scheduler: BaseScheduler, services) -> BaseScheduler:
    """Add every job to `scheduler` under its stable id, one instance of each at a time; catch up at start."""
    zone = ZoneInfo(services.settings.timezone)
    late = due_now(services)
    if late:
        log.info("catching up on %s", ", ".join(late))
    for job in JOBS.values():
        scheduler.add_job(
            run_job,
            job.trigger(zone),
            args=[job.id, services],
            id=job.id,
            name=job.description,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            **({"next_run_time": datetime.now(UTC)} if job.id in late else {}),
        )
    return scheduler
