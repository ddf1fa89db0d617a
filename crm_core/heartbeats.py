"""Helper processes (the scheduler, event workers) report that they are alive; /healthz reads the reports.

The rule /healthz applies, wherever the helpers run (beside `kizuna serve`, or `kizuna scheduler` on
another host): at least one scheduler must have reported within SILENT_AFTER. The scheduler runs the
jobs (which deliver the outbox) and works through LINE events itself, so a live one means nothing
waits for good; extra event workers only add speed and are listed. How many helpers there should be
is not the web process's business (it cannot see them): `kizuna serve` restarts a helper that dies
and exits when one keeps dying, so a web process whose helpers are gone is gone too. So
`kizuna serve --no-scheduler --event-workers 0` is healthy exactly while a `kizuna scheduler`
elsewhere reports. A helper that stops cleanly takes its report away; others are forgotten in a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, select

from crm_core.clock import as_utc
from crm_core.models import HelperHeartbeat
from crm_core.uow import UnitOfWork

SCHEDULER = "scheduler"
EVENT_WORKER = "event worker"
BEAT_SECONDS = 10
SILENT_AFTER = timedelta(seconds=30)  # three reports missed
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Helper:
    helper: str
    host: str
    pid: int
    silent_for: timedelta


@dataclass(frozen=True)
class HelperReport:
    problem: str | None  # why the shop's messages are not being handled, or None
    alive: list[Helper]


def beat(*, uow: UnitOfWork, helper: str, host: str, pid: int, started_at: datetime) -> None:
    """Record that `helper` (process `pid` on `host`) is alive now; forget reports a day old."""
    now = uow.now()
    row = uow.session.exec(
        select(HelperHeartbeat).where(HelperHeartbeat.host == host, HelperHeartbeat.pid == pid)
    ).first()
    if row is None:
        uow.session.add(HelperHeartbeat(helper=helper, host=host, pid=pid, started_at=started_at, beat_at=now))
    else:
        row.helper, row.started_at, row.beat_at = helper, started_at, now
    uow.session.exec(delete(HelperHeartbeat).where(col(HelperHeartbeat.beat_at) < now - FORGET_AFTER))


def forget(*, uow: UnitOfWork, host: str, pid: int) -> None:
    """A helper that stops cleanly takes its report away."""
    uow.session.exec(delete(HelperHeartbeat).where(HelperHeartbeat.host == host, HelperHeartbeat.pid == pid))


def report(*, uow: UnitOfWork) -> HelperReport:
    """Which helpers are alive, and what is missing when every scheduler is silent."""
    now = uow.now()
    helpers = [
        Helper(row.helper, row.host, row.pid, now - as_utc(row.beat_at))
        for row in uow.session.exec(select(HelperHeartbeat).order_by(HelperHeartbeat.helper, HelperHeartbeat.host))
    ]
    alive = [helper for helper in helpers if helper.silent_for <= SILENT_AFTER]
    schedulers = [helper.silent_for for helper in helpers if helper.helper == SCHEDULER]
    if not schedulers:
        problem = "no scheduler is running, so no job runs and no LINE event is processed"
    elif min(schedulers) > SILENT_AFTER:
        problem = f"the scheduler has not reported for {int(min(schedulers).total_seconds())} s"
    else:
        problem = None
    return HelperReport(problem=problem, alive=alive)
