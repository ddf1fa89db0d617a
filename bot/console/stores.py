"""Stores (admins): the list, adding one, editing one (details, its own business hours), closing and reopening."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bot.console.session import current_user, kizuna, login_required
from bot.web_i18n import gettext as _
from crm_core import hours, staff, stores
from crm_core.errors import KizunaError
from crm_core.models import Store

ROLE = "admin"
DETAIL_FIELDS = ("name", "address", "phone")
HOURS_FIELDS = tuple(f"hours_{day}" for day in hours.WEEKDAYS)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/stores", view_func=store_list, methods=["GET", "POST"])
    bp.add_url_rule("/stores/<code>", view_func=store_edit, methods=["GET", "POST"])
    bp.add_url_rule("/stores/<code>/close", view_func=close_store, methods=["POST"])
    bp.add_url_rule("/stores/<code>/reopen", view_func=reopen_store, methods=["POST"])
    bp.context_processor(_stores_context)


def _stores_context() -> dict:
    user = current_user()
    return {"can_manage_stores": user is not None and staff.has_role(user, ROLE)}


def _field_error(error: KizunaError) -> tuple[str, str]:
    """(form field, message in the user's language) of a refused value."""
    params = dict(error.params)
    day = params.get("day")
    if day is not None:
        params.update(day=_(day))  # a weekday's name is a message id; a date stays as it is
    return params.get("field", "form"), _(error.message, **params)


def _not_found():
    message = _("No store with this code.")
    return render_template("console/error.html", title=_("Not found"), message=message), 404


def _list_page(values: dict, errors: dict, status: int = 200):
    with kizuna().uow_factory() as uow:
        found = stores.list_stores(uow=uow)
    return render_template("console/stores.html", stores=found, values=values, errors=errors), status


@login_required(role=ROLE)
def store_list():
    """List the stores, open and closed, and add one."""
    if request.method == "GET":
        return _list_page({}, {})
    values = {name: request.form.get(name, "") for name in ("code", *DETAIL_FIELDS)}
    errors = {}
    with kizuna().uow_factory() as uow:
        try:
            if stores.get_store_by_code(uow=uow, code=values["code"]) is not None:
                errors["code"] = _("There is already a store with this code.")
            else:
                store, _created = stores.upsert_store(uow=uow, **values)
                uow.commit()
        except KizunaError as error:
            field, message = _field_error(error)
            errors[field] = message
    if errors:
        return _list_page(values, errors, 400)  # in a new transaction: the one above has ended
    flash(_("The store %(name)s was added.", name=store.name), "info")
    return redirect(url_for("console.store_list"))


def _form_values(store: Store, store_hours: hours.BusinessHours, shop_hours: hours.BusinessHours) -> dict:
    own = store.business_hours is not None
    shown = store_hours if own else shop_hours
    return {
        "name": store.name,
        "address": store.address or "",
        "phone": store.phone or "",
        "same_hours": not own,
        **{f"hours_{day}": text for day, text in shown.weekly_text().items()},
        "hours_dates": shown.dates_text(),
    }


def _edit_page(store: Store, values: dict, errors: dict, status: int = 200):
    page = render_template(
        "console/store.html",
        store=store,
        values=values,
        errors=errors,
        weekdays=[(f"hours_{day}", _(hours.WEEKDAY_NAMES[day])) for day in hours.WEEKDAYS],
    )
    return page, status


def _hours_from_form(form) -> hours.BusinessHours | None:
    """The store's own hours, or None when it keeps the shop's."""
    if form.get("same_hours"):
        return None
    weekly = {day: form.get(f"hours_{day}", "") for day in hours.WEEKDAYS}
    return hours.from_form(weekly=weekly, dates=form.get("hours_dates", ""))


@login_required(role=ROLE)
def store_edit(code: str):
    """Change a store's name, address, phone and business hours; refused values change nothing."""
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None:
            return _not_found()
        if request.method == "GET":
            store_hours = hours.hours_for_store(uow=uow, store=store)
            values = _form_values(store, store_hours, hours.get_shop_hours(uow=uow))
            return _edit_page(store, values, {})
        form = request.form
        values = {name: form.get(name, "") for name in (*DETAIL_FIELDS, *HOURS_FIELDS, "hours_dates")}
        values["same_hours"] = bool(form.get("same_hours"))
        try:
            details = {name: values[name] for name in DETAIL_FIELDS}
            stores.upsert_store(uow=uow, code=store.code, business_hours=_hours_from_form(form), **details)
            uow.commit()
        except KizunaError as error:
            uow.rollback()
            field, message = _field_error(error)
            return _edit_page(store, values, {field: message}, 400)
    flash(_("The store %(name)s was saved.", name=store.name), "info")
    return redirect(url_for("console.store_edit", code=store.code))


def _set_open(code: str, *, open_: bool):
    with kizuna().uow_factory() as uow:
        if stores.get_store_by_code(uow=uow, code=code) is None:
            return _not_found()
        change = stores.reopen_store if open_ else stores.close_store
        store = change(uow=uow, code=code)
        uow.commit()
    if open_:
        flash(_("%(name)s is open again and offered at the till.", name=store.name), "info")
    else:
        flash(_("%(name)s is closed: no longer offered at the till; its history stays.", name=store.name), "info")
    return redirect(url_for("console.store_edit", code=store.code))


@login_required(role=ROLE)
def close_store(code: str):
    """Close a store: the till no longer offers it; its purchases and history stay."""
    return _set_open(code, open_=False)


@login_required(role=ROLE)
def reopen_store(code: str):
    """Offer a closed store at the till again."""
    return _set_open(code, open_=True)
