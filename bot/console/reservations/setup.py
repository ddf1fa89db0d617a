"""The booking setup of a store (admins): its booking settings, its resources (stylists, rooms, seats) and its
menus. Business hours and holidays are the store's own page (bot/console/stores.py). A refused value is shown
next to its field, in the page's language, and nothing of that form is saved."""

from __future__ import annotations

import unicodedata

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bot.console.reservations import exports
from bot.console.reservations import stores as store_pages
from bot.console.session import kizuna, login_required
from bot.web_i18n import gettext as _
from crm_core import reservations, stores
from crm_core.errors import N_, InvalidInput, KizunaError
from crm_core.models import BookingMenu, Store
from crm_core.reservations.setup import LIMITS, check_code
from crm_core.uow import UnitOfWork

ROLE = "admin"
SETTING_FIELDS = ("time_zone", *LIMITS)
MENU_FIELDS = ("code", "name", "duration_minutes", "price", "capacity", "description")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/<code>/setup", view_func=setup_page)
    bp.add_url_rule("/<code>/setup/settings", view_func=save_settings, methods=["POST"])
    bp.add_url_rule("/<code>/setup/resources", view_func=save_resource, methods=["POST"])
    bp.add_url_rule("/<code>/setup/feed", view_func=new_feed_address, methods=["POST"])
    bp.add_url_rule("/<code>/setup/menus/new", view_func=new_menu, methods=["GET", "POST"])
    bp.add_url_rule("/<code>/setup/menus/<menu_code>", view_func=edit_menu, methods=["GET", "POST"])


def _not_found(message: str):
    return render_template("console/error.html", title=_("Not found"), message=message), 404


def _field(error: KizunaError) -> str:
    return error.params.get("field") or "form"


def _menu_rows(uow: UnitOfWork, store: Store) -> list[tuple[BookingMenu, str]]:
    """The store's menus (inactive ones too), each with what it takes: its resources or its own places."""
    rows = []
    for menu in reservations.list_menus(uow=uow, store_id=store.id, include_inactive=True):
        resources = reservations.menu_resources(uow=uow, menu_id=menu.id)
        if len(resources) == 1 and resources[0].menu_id == menu.id:
            takes = _("%(count)s at the same time", count=resources[0].capacity)
        else:
            takes = ", ".join(resource.name for resource in resources)
        rows.append((menu, takes))
    return rows


def _settings_values(uow: UnitOfWork, store: Store) -> dict:
    settings = reservations.get_settings(uow=uow, store_id=store.id)
    return {name: "" if getattr(settings, name) is None else str(getattr(settings, name)) for name in SETTING_FIELDS}


def setup_response(code: str, *, errors: dict | None = None, values: dict | None = None, status: int = 200):
    """The setup page; `errors` and `values` are the refused form's, keyed by form (settings, resource, ...)."""
    errors, values = errors or {}, values or {}
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None:
            return _not_found(_("No store with this code."))
        page = render_template(
            "reservations/setup.html",
            store=store,
            settings=values.get("settings") or _settings_values(uow, store),
            shop_zone=store_pages.shop_zone().key,
            resources=reservations.list_resources(uow=uow, store_id=store.id),
            menus=_menu_rows(uow, store),
            errors=errors,
            values=values,
            feed_url=exports.feed_url(store, reservations.get_settings(uow=uow, store_id=store.id).feed_version),
            export_from=store_pages.today(store_pages.zone_of(uow, store)).replace(day=1).isoformat(),
            export_to=store_pages.today(store_pages.zone_of(uow, store)).isoformat(),
        )
    return page, status


@login_required(role=ROLE)
def setup_page(code: str):
    """Show a store's booking settings, resources and menus, and its exports."""
    return setup_response(code)


@login_required(role=ROLE)
def save_settings(code: str):
    """Change the store's booking settings: time zone, time between start times, how far ahead and how late one
    may book, the cancellation deadline and how long a chosen time is held."""
    values = {name: request.form.get(name, "").strip()[:64] for name in SETTING_FIELDS}
    errors = {}
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None:
            return _not_found(_("No store with this code."))
        try:
            reservations.update_settings(uow=uow, store_id=store.id, **values)
            uow.commit()
        except KizunaError as error:
            errors = {"settings": {_field(error): store_pages.message(error)}}
    if errors:  # shown in a new unit of work: the one above has ended
        return setup_response(code, errors=errors, values={"settings": values}, status=400)
    flash(_("The booking settings were saved."), "info")
    return redirect(url_for(".setup_page", code=code))


@login_required(role=ROLE)
def new_feed_address(code: str):
    """End the store's calendar feed address and show a new one (a leaked address stops working)."""
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None:
            return _not_found(_("No store with this code."))
        reservations.new_feed_address(uow=uow, store_id=store.id)
        uow.commit()
    flash(_("The calendar feed has a new address; the old one no longer works."), "info")
    return redirect(url_for(".setup_page", code=code) + "#exports")


@login_required(role=ROLE)
def save_resource(code: str):
    """Add a resource (a stylist, a room, seats), or change one's name, places and whether it takes bookings."""
    adding = request.form.get("adding") == "1"
    values = {
        "code": request.form.get("code", "")[:40],
        "name": request.form.get("name", "")[:100],
        "capacity": request.form.get("capacity", "").strip()[:6],
        "active": adding or bool(request.form.get("active")),
    }
    form = "resource" if adding else f"resource-{values['code']}"
    errors = {}
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None:
            return _not_found(_("No store with this code."))
        try:
            known = {resource.code for resource in reservations.list_resources(uow=uow, store_id=store.id)}
            checked = check_code(values["code"])
            if adding and checked in known:
                raise InvalidInput(N_("There is already a resource with this code."), field="code")
            resource = reservations.upsert_resource(uow=uow, store_id=store.id, **values)
            uow.commit()
        except KizunaError as error:
            errors = {form: {_field(error): store_pages.message(error)}}
    if errors:
        return setup_response(code, errors=errors, values={form: values}, status=400)
    flash(_("The resource %(name)s was saved.", name=resource.name), "info")
    return redirect(url_for(".setup_page", code=code, _anchor="resources"))


def _menu_form() -> dict:
    form = request.form
    values = {name: form.get(name, "")[:300] for name in MENU_FIELDS}
    values["price"] = unicodedata.normalize("NFKC", values["price"]).replace(",", "").replace("¥", "").strip()
    values["resources"] = [code[:40] for code in form.getlist("resources")][:50]
    values["active"] = bool(form.get("active"))
    return values


def _menu_values(uow: UnitOfWork, menu: BookingMenu) -> dict:
    resources = reservations.menu_resources(uow=uow, menu_id=menu.id)
    own = len(resources) == 1 and resources[0].menu_id == menu.id
    return {
        "code": menu.code,
        "name": menu.name,
        "duration_minutes": str(menu.duration_minutes),
        "price": str(menu.price),
        "capacity": str(resources[0].capacity if own else 1),
        "description": menu.description or "",
        "resources": [] if own else [resource.code for resource in resources],
        "active": menu.active,
    }


def _menu_page(store: Store, uow: UnitOfWork, menu: BookingMenu | None, values: dict, errors: dict, status: int = 200):
    page = render_template(
        "reservations/menu.html",
        store=store,
        menu=menu,
        values=values,
        errors=errors,
        resources=reservations.list_resources(uow=uow, store_id=store.id),
    )
    return page, status


def _save_menu(uow: UnitOfWork, store: Store, values: dict, code: str) -> BookingMenu:
    return reservations.upsert_menu(
        uow=uow,
        store_id=store.id,
        code=code,
        name=values["name"],
        duration_minutes=values["duration_minutes"].strip(),
        price=values["price"] or "0",
        capacity=values["capacity"].strip() or "1",
        resource_codes=values["resources"],
        description=values["description"],
        active=values["active"],
    )


@login_required(role=ROLE)
def new_menu(code: str):
    """Add a bookable menu: its code, name, length, price, and either its own places or the resources it takes."""
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None:
            return _not_found(_("No store with this code."))
        if request.method == "GET":
            values = {"duration_minutes": "60", "price": "0", "capacity": "1", "resources": [], "active": True}
            return _menu_page(store, uow, None, values, {})
        values = _menu_form()
        try:
            if reservations.get_menu(uow=uow, store_id=store.id, code=values["code"]) is not None:
                raise InvalidInput(N_("There is already a menu with this code."), field="code")
            menu = _save_menu(uow, store, values, values["code"])
            uow.commit()
        except KizunaError as error:
            uow.rollback()
            store = stores.get_store_by_code(uow=uow, code=code)
            return _menu_page(store, uow, None, values, {_field(error): store_pages.message(error)}, 400)
    flash(_("The menu %(name)s was saved.", name=menu.name), "info")
    return redirect(url_for(".setup_page", code=code, _anchor="menus"))


@login_required(role=ROLE)
def edit_menu(code: str, menu_code: str):
    """Change a menu; its bookings keep their time, price and places."""
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        menu = reservations.get_menu(uow=uow, store_id=store.id, code=menu_code) if store is not None else None
        if menu is None:
            return _not_found(_("No menu with this code."))
        if request.method == "GET":
            return _menu_page(store, uow, menu, _menu_values(uow, menu), {})
        values = _menu_form()
        values["code"] = menu.code
        try:
            menu = _save_menu(uow, store, values, menu.code)
            uow.commit()
        except KizunaError as error:
            uow.rollback()
            store = stores.get_store_by_code(uow=uow, code=code)
            menu = reservations.get_menu(uow=uow, store_id=store.id, code=menu_code)
            return _menu_page(store, uow, menu, values, {_field(error): store_pages.message(error)}, 400)
    flash(_("The menu %(name)s was saved.", name=menu.name), "info")
    return redirect(url_for(".setup_page", code=code, _anchor="menus"))
