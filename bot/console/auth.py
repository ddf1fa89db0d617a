"""Console login and logout, the CSRF error page and what every console template gets."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from bot import client_address, i18n
from bot.console.session import (
    current_user,
    end,
    kizuna,
    login_url,
    release_request_uow,
    safe_next,
    session_id,
    start,
)
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import login_attempts, staff, staff_sessions


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/login", view_func=login, methods=["GET", "POST"])
    bp.add_url_rule("/logout", view_func=logout, methods=["POST"])
    bp.register_error_handler(CSRFError, csrf_error)
    bp.context_processor(_console_context)
    # the request's read transaction ends with the app context, whichever blueprint the request was for
    bp.record_once(lambda state: state.app.teardown_appcontext(release_request_uow))


def login():
    """Log in with e-mail and password; wrong passwords make the next try wait (per account and address)."""
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_path or url_for("console.dashboard"))
        return render_template("console/login.html", next_path=next_path, error=None, email="")
    release_request_uow()
    email = request.form.get("email", "")
    address = client_address.of_request(request)
    with kizuna().uow_factory() as uow:
        try:
            user = staff.log_in(uow=uow, email=email, password=request.form.get("password", ""), address=address)
        except login_attempts.LoginThrottled as error:
            uow.commit()
            message, status = refusal(error), 429
        except login_attempts.LoginFailed as error:
            uow.commit()
            message, status = _(error.message), 401
        else:
            start(uow=uow, user=user)
            uow.commit()
            return redirect(next_path or url_for("console.dashboard"))
    return render_template("console/login.html", next_path=next_path, error=message, email=email), status


def refusal(error: login_attempts.LoginThrottled) -> str:
    """Why a login must wait, in the visitor's language (a moment in the shop's time zone)."""
    params = dict(error.params)
    if "until" in params:
        params["until"] = i18n.format_moment(params["until"], current_locale(), kizuna().settings.zone)
    return _(error.message, **params)


def logout():
    """End the session, on the server too: the cookie no longer opens anything."""
    raw_id = session_id()
    if raw_id is not None:
        release_request_uow()
        with kizuna().uow_factory() as uow:
            staff_sessions.end_session(uow=uow, raw_id=raw_id)
            uow.commit()
    end()
    flash(_("You are logged out."), "info")
    return redirect(url_for("console.login"))


def csrf_error(error: CSRFError):
    """A form without a valid token (often a page left open too long): say so, and offer to start again."""
    message = _("This form has expired or was not sent from the console. Please reload the page and try again.")
    return render_template("console/error.html", title=_("Please try again"), message=message), 400


def _lang_url(code: str) -> str:
    args = request.args.to_dict()
    args["lang"] = code
    return f"{request.path}?{urlencode(args)}"


def _console_context() -> dict:
    user = current_user()
    return {
        "staff_user": user,
        "can_see_events": user is not None and staff.has_role(user, "admin"),
        "lang_url": _lang_url,
        "login_url": login_url,
    }
