"""The admins' system page: what waits or failed (events, the outbox) and the jobs, out of the shop's way."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from bot import i18n
from bot.console.session import kizuna, login_required
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import events, leadership, outbox
from crm_core.errors import NotFound

FAILURES_SHOWN = 20
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/system", view_func=system)
    bp.add_url_rule("/system/outbox/retry", view_func=retry_messages, methods=["POST"])
    bp.add_url_rule("/system/outbox/<int:message_id>/retry", view_func=retry_message, methods=["POST"])


def quota_notice(uow) -> str | None:
    """The day LINE's monthly quota lets pushes go again, in the reader's words; None while they may go."""
    until = outbox.quota_held_until(uow=uow)
    return i18n.format_day(until, current_locale(), kizuna().settings.zone) if until else None


@login_required(role="admin")
def system():
    """What the machinery is doing: events and messages that wait or failed, and the jobs that run."""
    from scheduler.jobs import JOBS

    with kizuna().uow_factory() as uow:
        backlog = events.backlog(uow=uow)
        failed_messages = outbox.recent_failures(uow=uow, limit=FAILURES_SHOWN)
        quota_until = quota_notice(uow)
        leader = leadership.get_leader(uow=uow)
    return render_template(
        "console/system.html",
        backlog=backlog,
        failed_messages=failed_messages,
        quota_until=quota_until,
        jobs=list(JOBS.values()),
        leader=leader,
    )


@login_required(role="admin")
def retry_messages():
    """Queue every message that could not be sent again, and the pushes held for LINE's monthly quota."""
    with kizuna().uow_factory() as uow:
        count = outbox.requeue(uow=uow)
        uow.commit()
    flash(_("%(count)d message(s) will be sent again within a minute.", count=count), "info")
    return redirect(url_for("console.system", _anchor="outbox"))


@login_required(role="admin")
def retry_message(message_id: int):
    """Queue one message that could not be sent again; it keeps its retry key, so LINE never shows it twice."""
    with kizuna().uow_factory() as uow:
        try:
            if message_id > MAX_ID:
                raise NotFound
            outbox.requeue(uow=uow, message_id=message_id)
        except NotFound:
            message = _("No message %(id)s that could not be sent.", id=message_id)
            return render_template("console/error.html", title=_("Not found"), message=message), 404
        uow.commit()
    flash(_("Message %(id)d will be sent again within a minute.", id=message_id), "info")
    return redirect(url_for("console.system", _anchor="outbox"))
