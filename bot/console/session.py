"""Console sessions: who is logged in, since when, and whether the session has expired.

The Flask session (a signed cookie) holds the staff id, role, login time and last-seen time as
POSIX seconds from the injected clock; idle sessions end after 30 minutes, any session after 8 hours.
It also holds the account's session epoch at login: disabling the account or resetting its password
raises the epoch, which ends every session opened before at its next request.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from bot.web_i18n import gettext as _
from crm_core import staff
from crm_core.models import StaffUser
from crm_core.uow import UnitOfWork

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
_KEYS = ("staff_id", "role", "login_at", "seen_at", "epoch")


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
    session.update(staff_id=user.id, role=user.role, login_at=moment, seen_at=moment, epoch=user.session_epoch)


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


def request_uow() -> UnitOfWork:
    """The unit of work this request reads with, opened on first use and closed when the request ends.

    One transaction (one pool checkout) for everything a console page reads: the staff member, the till's
    store, the customer panel. Writes go through their own unit of work; call `release_request_uow()`
    before one, so a request never holds two connections.
    """
    uow = g.get("_kizuna_uow")
    if uow is None:
        uow = kizuna().uow_factory()
        uow.__enter__()
        g._kizuna_uow = uow
    return uow


def release_request_uow(_error: BaseException | None = None) -> None:
    """End the request's read transaction (if one is open) and give its connection back to the pool."""
    uow = g.pop("_kizuna_uow", None)
    if uow is not None:
        uow.__exit__(None, None, None)


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
            user = staff.get_staff_user(uow=request_uow(), staff_user_id=session["staff_id"])
            if user is None or not user.active or user.session_epoch != session.get("epoch", 0):
                end()
                flash(_("Your session was ended. Please log in again."), "info")
                user = None
            else:
                session["role"] = user.role
                session["seen_at"] = moment
    g.staff_user = user
    return user


def login_required(view=None, *, role: str = "staff", keep_uow: bool = False, preload=None):
    """Send anonymous visitors to the login page (coming back here after) and refuse too small roles (403).

    The staff member is read in the request's unit of work; `keep_uow=True` leaves it open for the view
    to read with (the view then releases it before any write), otherwise it ends before the view runs.
    `preload(uow, staff_id)` may read the staff member together with what the view needs, in one query.
    """

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if preload is not None and "staff_user" not in g and isinstance(session.get("staff_id"), int):
                preload(request_uow(), session["staff_id"])
            user = current_user()
            if not keep_uow:
                release_request_uow()
            if user is None:
                return redirect(login_url(request.full_path.rstrip("?")))
            if not staff.has_role(user, role):
                message = _("Your account may not open this page.")
                return render_template("console/error.html", title=_("Forbidden"), message=message), 403
            return function(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
