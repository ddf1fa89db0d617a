"""Console sessions: who is logged in, checked against the session's row on every request.

The Flask session (a signed cookie) holds only a random session id (plus the language and the till's
store); the row it names (crm_core.staff_sessions) says whose session it is and since when. Logout,
disabling the account, a new password or an admin ending it delete the row, which ends the session at
its next request; idle sessions end after 30 minutes, any session after 8 hours.
"""

from __future__ import annotations

import functools
from urllib.parse import urlencode, urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from bot import client_address
from bot.web_i18n import gettext as _
from crm_core import staff, staff_sessions
from crm_core.errors import KizunaError
from crm_core.models import StaffUser
from crm_core.uow import UnitOfWork

SESSION_KEY = "sid"


def kizuna():
    return current_app.extensions["kizuna"]


def fresh_session() -> None:
    """Forget everything in the session but the language (a new CSRF token comes with it)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def start(*, uow: UnitOfWork, user: StaffUser) -> None:
    """A new session for `user`: nothing from before the login survives (no session fixation).

    The session's row is written in `uow`, which the caller commits.
    """
    staff_sessions.delete_expired(uow=uow)
    raw_id = staff_sessions.open_session(
        uow=uow,
        user=user,
        user_agent=request.headers.get("User-Agent"),
        client_address=client_address.of_request(request),
    )
    fresh_session()
    session.permanent = True
    session[SESSION_KEY] = raw_id


def session_id() -> str | None:
    raw_id = session.get(SESSION_KEY)
    return raw_id if isinstance(raw_id, str) and raw_id else None


def end() -> None:
    """Forget the session in this browser (its row is ended by the caller, or was already gone)."""
    fresh_session()


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
    """The logged-in account for this request, or None; read with the session's row in one query.

    The last-seen time is written at most once a minute, in the request's unit of work.
    """
    if "staff_user" in g:
        return g.staff_user
    user = None
    raw_id = session_id()
    if raw_id is not None:
        uow = request_uow()
        try:
            record, user = staff_sessions.check_session(
                uow=uow, raw_id=raw_id, preloaded=g.pop("preloaded_session", None)
            )
        except KizunaError as error:
            end()
            flash(_(error.message), "info")
            user = None
        else:
            if staff_sessions.needs_touch(uow=uow, record=record):
                staff_sessions.touch(uow=uow, record=record)
                uow.commit()
    g.staff_user = user
    return user


def login_required(view=None, *, role: str = "staff", keep_uow: bool = False, preload=None):
    """Send anonymous visitors to the login page (coming back here after) and refuse too small roles (403).

    The staff member is read in the request's unit of work; `keep_uow=True` leaves it open for the view
    to read with (the view then releases it before any write), otherwise it ends before the view runs.
    `preload(uow, session_digest)` may read the session's row and account together with what the view
    needs, in one query (leaving the pair in `g.preloaded_session`).
    """

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if preload is not None and "staff_user" not in g and session_id() is not None:
                preload(request_uow(), staff_sessions.digest(session_id()))
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
