"""Console login and logout, the CSRF error page and what every console template gets."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from bot import i18n
from bot.console.session import current_user, end, kizuna, login_url, release_request_uow, safe_next, start
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import staff


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/login", view_func=login, methods=["GET", "POST"])
    bp.add_url_rule("/logout", view_func=logout, methods=["POST"])
    bp.register_error_handler(CSRFError, csrf_error)
    bp.context_processor(_console_context)
    # the request's read transaction ends with the app context, whichever blueprint the request was for
    bp.record_once(lambda state: state.app.teardown_appcontext(release_request_uow))


def login():
    """Log in with e-mail and password; five wrong passwords in 15 minutes lock the address for 15 minutes."""
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_path or url_for("console.dashboard"))
        return render_template("console/login.html", next_path=next_path, error=None, email="")
    email = request.form.get("email", "")
    with kizuna().uow_factory() as uow:
        try:
            user = staff.log_in(uow=uow, email=email, password=request.form.get("password", ""))
        except staff.LoginLocked as error:
            uow.commit()
            until = i18n.format_moment(error.params["until"], current_locale(), kizuna().settings.zone)
            message, status = _(error.message, until=until), 429
        except staff.LoginFailed as error:
            uow.commit()
            message, status = _(error.message), 401
        else:
            uow.commit()
            start(user)
            return redirect(next_path or url_for("console.dashboard"))
    return render_template("console/login.html", next_path=next_path, error=message, email=email), status


def logout():
    """End the session."""
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
