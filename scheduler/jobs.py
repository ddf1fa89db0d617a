"""Scheduled jobs. Ids are stable (PRODUCT.md); each job gets the services from its composition root.

A job is `fn(services) -> str`: it does its work through crm_core and the gateway and returns a
one-line summary that `kizuna jobs run ID` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from crm_core.errors import N_


@dataclass(frozen=True)
class Job:
    id: str
    description: str
    run: Callable[[Any], str]
    every_seconds: int


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
        Job("outbox.deliver", N_("Deliver what the outbox holds that may go now"), deliver_outbox, 10),
        Job(
            "webhook.sweep",
            N_("Process webhook events no web worker finished (after a crash)"),
            sweep_webhook_events,
            30,
        ),
        Job("points.expire", N_("Expire point lots past their validity"), expire_points, 3600),
        Job(
            "tiers.refresh",
            N_("Move customers down whose 12-month spend no longer earns their tier"),
            refresh_tiers,
            6 * 3600,
        ),
    )
}


def install(scheduler: BaseScheduler, services) -> BaseScheduler:
    """Add every job to `scheduler` under its stable id; one instance of each at a time."""
    for job in JOBS.values():
        scheduler.add_job(
            job.run,
            IntervalTrigger(seconds=job.every_seconds),
            args=[services],
            id=job.id,
            name=job.description,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
    return scheduler
