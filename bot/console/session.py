"""Console sessions: who is logged in, since when, and whether the session has expired.

The Flask session (a signed cookie) holds the staff id, role, login time and last-seen time as
POSIX seconds from the injected clock; idle sessions end after 30 minutes, any session after 8 hours.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from bot.web_i18n import gettext as _
from crm_core import staff
from crm_core.models import StaffUser

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
_KEYS = ("staff_id", "role", "login_at", "seen_at")


def kizuna():
    return current_app.extensions["kizuna"]


def now_seconds() -> float:
    return kizuna().uow_factory.clock.now().timestamp()


def fresh_session() -> None:
    """Forget everything in the session but the language (a new CSRF token comes with it)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def start(user: StaffUser) -> None:
    """A new session for `user`: nothing from before the login survives (no session fixation)."""
    fresh_session()
    session.permanent = True
    moment = now_seconds()
    session.update(staff_id=user.id, role=user.role, login_at=moment, seen_at=moment)


def end() -> None:
    fresh_session()


def expired(moment: float) -> bool:
    login_at, seen_at = session.get("login_at", 0), session.get("seen_at", 0)
    return (
        moment - seen_at > IDLE_TIMEOUT.total_seconds()
        or moment - login_at > ABSOLUTE_TIMEOUT.total_seconds()
        or moment < login_at
    )


def safe_next(target: str | None) -> str | None:
    """A same-site relative path to go back to after login, or None for anything else."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in target):
        return None
    return target


def login_url(next_path: str | None = None) -> str:
    url = url_for("console.login")
    target = safe_next(next_path)
    return f"{url}?{urlencode({'next': target})}" if target else url


def current_user() -> StaffUser | None:
    """The logged-in account for this request (refreshing the last-seen time), or None."""
    if "staff_user" in g:
        return g.staff_user
    user = None
    if "staff_id" in session:
        moment = now_seconds()
        if expired(moment):
            end()
            flash(_("Your session expired. Please log in again."), "info")
        else:
            with kizuna().uow_factory() as uow:
                user = staff.get_staff_user(uow=uow, staff_user_id=session["staff_id"])
            if user is None or not user.active:
                end()
                user = None
            else:
                session["role"] = user.role
                session["seen_at"] = moment
    g.staff_user = user
    return user


def login_required(view=None, *, role: str = "staff"):
    """Send anonymous visitors to the login page (coming back here after) and refuse too small roles (403)."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(login_url(request.full_path.rstrip("?")))
            if not staff.has_role(user, role):
                message = _("Your account may not open this page.")
                return render_template("console/error.html", title=_("Forbidden"), message=message), 403
            return function(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
