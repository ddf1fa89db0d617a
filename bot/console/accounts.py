"""Console accounts (admins): invite, change role and home store, disable, reset a password; password links."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bot.console.session import current_user, kizuna, login_required, session_id
from bot.web_i18n import gettext as _
from crm_core import invitations, staff, staff_sessions
from crm_core import stores as store_service
from crm_core.errors import N_, ExpiredPasswordLink, InvalidPasswordLink, KizunaError, NotFound

ADMIN_ROLE = "admin"
MAX_ID = 2**31 - 1
ROLE_LABELS = {"staff": N_("Staff"), "marketer": N_("Marketer"), "admin": N_("Admin")}
INVITE_FIELDS = ("email", "display_name", "role", "home_store")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/staff", view_func=staff_list, methods=["GET", "POST"])
    bp.add_url_rule("/staff/<int:staff_user_id>", view_func=update_account, methods=["POST"])
    bp.add_url_rule("/staff/<int:staff_user_id>/disable", view_func=disable_account, methods=["POST"])
    bp.add_url_rule("/staff/<int:staff_user_id>/enable", view_func=enable_account, methods=["POST"])
    bp.add_url_rule("/staff/<int:staff_user_id>/reset-password", view_func=reset_password, methods=["POST"])
    bp.add_url_rule("/staff/<int:staff_user_id>/sessions", view_func=account_sessions, methods=["GET"])
    bp.add_url_rule("/staff/<int:staff_user_id>/sessions/end", view_func=end_account_sessions, methods=["POST"])
    bp.add_url_rule("/invite/<token>", view_func=set_password, methods=["GET", "POST"])
    bp.context_processor(_accounts_context)


def _accounts_context() -> dict:
    user = current_user()
    return {"can_manage_accounts": user is not None and staff.has_role(user, ADMIN_ROLE), "role_label": _role_label}


def _role_label(role: str) -> str:
    return _(ROLE_LABELS[role]) if role in ROLE_LABELS else role


def _message(error: KizunaError) -> str:
    return _(error.message, **error.params)


def _link(token: str) -> str:
    return kizuna().settings.public_url + url_for("console.set_password", token=token)


def _issue_link(user) -> str:
    services = kizuna()
    now = services.uow_factory.clock.now()
    return _link(invitations.issue_token(secret=services.settings.secret_key, user=user, now=now))


def _page(*, values: dict | None = None, errors: dict | None = None, link: dict | None = None, status: int = 200):
    with kizuna().uow_factory() as uow:
        accounts = staff.list_staff_users(uow=uow)
        stores = store_service.list_stores(uow=uow)
    response = render_template(
        "console/staff.html",
        accounts=accounts,
        stores=stores,
        store_names={store.id: store.name for store in stores},
        roles=staff.ROLES,
        values=values or {"role": "staff"},
        errors=errors or {},
        link=link,
    )
    # a page with a password link is for the admin's eyes only: never kept by a cache
    return response, status, {"Cache-Control": "no-store"}


@login_required(role=ADMIN_ROLE)
def staff_list():
    """List console accounts; invite a new one (the page shows the link that lets them set a password)."""
    if request.method == "GET":
        return _page()
    values = {name: request.form.get(name, "").strip() for name in INVITE_FIELDS}
    try:
        with kizuna().uow_factory() as uow:
            user = staff.create_staff_user(
                uow=uow,
                email=values["email"],
                password=None,
                role=values["role"],
                display_name=values["display_name"],
                home_store_code=values["home_store"],
            )
            uow.commit()
    except KizunaError as error:
        field = error.params.get("field")
        return _page(values=values, errors={field if field in INVITE_FIELDS else "form": _message(error)}, status=400)
    return _page(link={"email": user.email, "url": _issue_link(user), "invited": True})


def _change(staff_user_id: int, action, done: str):
    """Run one change on an account; a refusal is shown at the top of the list and changes nothing."""
    try:
        if staff_user_id > MAX_ID:
            raise NotFound(N_("There is no such console account."))
        with kizuna().uow_factory() as uow:
            user = action(uow)
            uow.commit()
    except KizunaError as error:
        flash(_message(error), "error")
    else:
        flash(_(done, email=user.email), "info")
    return redirect(url_for("console.staff_list"))


@login_required(role=ADMIN_ROLE)
def update_account(staff_user_id: int):
    """Change an account's role and home store."""
    role, home_store = request.form.get("role", ""), request.form.get("home_store", "")

    def action(uow):
        staff.set_home_store(uow=uow, staff_user_id=staff_user_id, store_code=home_store)
        return staff.set_role(uow=uow, staff_user_id=staff_user_id, role=role)

    return _change(staff_user_id, action, N_("The account %(email)s was saved."))


@login_required(role=ADMIN_ROLE)
def disable_account(staff_user_id: int):
    """Disable an account: it cannot log in, and its open sessions end at once."""
    me = current_user().id

    def action(uow):
        return staff.disable_staff_user(uow=uow, staff_user_id=staff_user_id, by_staff_user_id=me)

    return _change(staff_user_id, action, N_("The account %(email)s was disabled."))


@login_required(role=ADMIN_ROLE)
def enable_account(staff_user_id: int):
    """Let a disabled account log in again."""

    def action(uow):
        return staff.enable_staff_user(uow=uow, staff_user_id=staff_user_id)

    return _change(staff_user_id, action, N_("The account %(email)s can log in again."))


@login_required(role=ADMIN_ROLE)
def reset_password(staff_user_id: int):
    """Void an account's password and open sessions, and show a fresh link to set a new one."""
    try:
        if staff_user_id > MAX_ID:
            raise NotFound(N_("There is no such console account."))
        with kizuna().uow_factory() as uow:
            user = staff.reset_password(uow=uow, staff_user_id=staff_user_id)
            uow.commit()
    except KizunaError as error:
        flash(_message(error), "error")
        return redirect(url_for("console.staff_list"))
    return _page(link={"email": user.email, "url": _issue_link(user), "invited": False})


@login_required(role=ADMIN_ROLE)
def account_sessions(staff_user_id: int):
    """List where an account is logged in (device, address, since when, last seen)."""
    with kizuna().uow_factory() as uow:
        user = staff.get_staff_user(uow=uow, staff_user_id=staff_user_id) if staff_user_id <= MAX_ID else None
        if user is None:
            message = _("There is no such console account.")
            return render_template("console/error.html", title=_("Not found"), message=message), 404
        open_sessions = staff_sessions.list_sessions(uow=uow, staff_user_id=user.id)
    mine = staff_sessions.digest(session_id())
    return render_template("console/staff_sessions.html", account=user, open_sessions=open_sessions, mine=mine)


@login_required(role=ADMIN_ROLE)
def end_account_sessions(staff_user_id: int):
    """End one of an account's sessions (`session`), or all of them (`all`); they end at their next request."""
    target = url_for("console.account_sessions", staff_user_id=staff_user_id)
    try:
        if staff_user_id > MAX_ID:
            raise NotFound(N_("There is no such console account."))
        with kizuna().uow_factory() as uow:
            user = staff.check_staff_user(uow=uow, staff_user_id=staff_user_id)
            if request.form.get("all"):
                staff_sessions.end_sessions(uow=uow, staff_user_id=user.id)
            else:
                staff_sessions.end_session_by_digest(
                    uow=uow, staff_user_id=user.id, session_digest=request.form.get("session", "")
                )
            uow.commit()
    except KizunaError as error:
        flash(_message(error), "error")
    else:
        flash(_("The session was ended.") if not request.form.get("all") else _("Every session was ended."), "info")
    return redirect(target)


def set_password(token: str):
    """Set a password from an invitation or reset link (no login: the signed link is the proof)."""
    services = kizuna()
    secret = services.settings.secret_key
    password, confirmation = request.form.get("password", ""), request.form.get("confirmation", "")
    errors = {}
    with services.uow_factory() as uow:
        try:
            user = invitations.check_token(uow=uow, secret=secret, token=token)
            if request.method == "POST":
                invitations.set_password_with_token(
                    uow=uow, secret=secret, token=token, password=password, confirmation=confirmation
                )
                uow.commit()
        except (ExpiredPasswordLink, InvalidPasswordLink) as error:
            status = 410 if isinstance(error, ExpiredPasswordLink) else 404
            title = _("This link cannot be used")
            return render_template("console/error.html", title=title, message=_message(error)), status
        except KizunaError as error:
            errors[error.params.get("field", "password")] = _message(error)
    if request.method == "GET" or errors:
        page = render_template("console/set_password.html", account=user, errors=errors, token=token)
        return page, 400 if errors else 200, {"Cache-Control": "no-store"}
    flash(_("Your password is set. Log in with it now."), "info")
    return redirect(url_for("console.login"))
