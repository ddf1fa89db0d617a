"""The admins' system page: failed webhook events, the outbox, and the scheduler's jobs, out of the shop's way."""

from __future__ import annotations

from flask import Blueprint, render_template

from bot.console.session import kizuna, login_required
from crm_core import events, outbox

FAILURES_SHOWN = 20


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/system", view_func=system)


@login_required(role="admin")
def system():
    """What the machinery is doing: events and messages that wait or failed, and the jobs that run."""
    from scheduler.jobs import JOBS

    with kizuna().uow_factory() as uow:
        backlog = events.backlog(uow=uow)
        failed_events = events.failed_events(uow=uow)[:FAILURES_SHOWN]
        failed_messages = outbox.recent_failures(uow=uow, limit=FAILURES_SHOWN)
    return render_template(
        "console/system.html",
        backlog=backlog,
        failed_events=failed_events,
        failed_messages=failed_messages,
        jobs=list(JOBS.values()),
    )
