"""What staff do with bookings: add one for a customer who phoned (find them, pick the menu, the day and a free
time), mark arrived or no-show (and undo), move one to another free time, cancel one.

Moving or cancelling tells the customer on LINE (an outbox row written with the change, sent after the commit);
a booking made or moved has its reminders decided as soon as it is committed.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bot import flow_events
from bot.console.reservations import stores as store_pages
from bot.console.reservations.board import ROLE, blocks_for, status_label
from bot.console.session import current_user, kizuna, login_required
from bot.notifications import queue_booking_cancelled, queue_booking_changed
from bot.web_i18n import gettext as _
from crm_core import contacts, customers, reservations, timeline
from crm_core.errors import N_, Conflict, InvalidInput, KizunaError, NotBookable
from crm_core.models import Booking, BookingMenu, Customer, Store
from crm_core.uow import UnitOfWork

MAX_ID = 2**31 - 1
SEARCH_SHOWN = 20
_KEY = re.compile(r"[0-9a-f]{32}")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/new", view_func=new_booking, methods=["GET", "POST"])
    bp.add_url_rule("/new/customer", view_func=new_caller, methods=["POST"])
    bp.add_url_rule("/bookings/<int:booking_id>/move", view_func=move_booking, methods=["GET", "POST"])
    bp.add_url_rule("/bookings/<int:booking_id>/cancel", view_func=cancel_booking, methods=["POST"])
    bp.add_url_rule("/bookings/<int:booking_id>/mark", view_func=mark_booking, methods=["POST"])


# -- adding a booking -------------------------------------------------------------------------------------


def _instant(text: str | None) -> datetime:
    """A start time as the form sends it (ISO 8601 with its offset), as an instant."""
    try:
        moment = datetime.fromisoformat((text or "").strip()[:40])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(N_("Choose one of the free times."), field="starts_at")
    return moment.astimezone(UTC)


def _field_of(error: KizunaError) -> str:
    """The form field a refused booking is shown next to."""
    if isinstance(error, (NotBookable, Conflict)):
        return "starts_at"
    return error.params.get("field") or "form"


def _slots(
    uow: UnitOfWork, store: Store, menu: BookingMenu | None, day: date, zone, moving: int | None = None
) -> list[tuple[str, str, int]]:
    """The free times staff may book for `menu` that day: (value for the form, time, places left); the places of
    the booking `moving` count as free (a move keeps the places the two times share)."""
    if menu is None:
        return []
    rules = reservations.rules_for(uow=uow, store=store, zone=store_pages.shop_zone())
    slots = reservations.free_slots(uow=uow, rules=rules, menu=menu, day=day, by_staff=True, ignoring=moving)
    return [(slot.starts_at.isoformat(), store_pages.clock_text(slot.starts_at, zone), slot.free) for slot in slots]


def _customer(uow: UnitOfWork, text: str | None) -> Customer | None:
    text = (text or "").strip()
    if not text.isdigit() or int(text) > MAX_ID:
        return None
    customer = customers.get_customer(uow=uow, customer_id=int(text))
    return customer if customer is not None and customer.erased_at is None else None


def _chosen(uow: UnitOfWork, store: Store, values: dict) -> tuple[Customer | None, BookingMenu | None]:
    """The customer and the (active) menu the form names."""
    customer = _customer(uow, values["customer"])
    menu = reservations.get_menu(uow=uow, store_id=store.id, code=values["menu"]) if values["menu"] else None
    return customer, (menu if menu is not None and menu.active else None)


@login_required(role=ROLE)
def new_booking():
    """Book for a customer who phoned: find them, pick the menu and the day, then one of the free times."""
    source = request.form if request.method == "POST" else request.args
    values = {
        name: source.get(name, "")[:200] for name in ("store", "q", "customer", "menu", "day", "note", "starts_at")
    }
    key = source.get("key", "")
    values["key"] = key if _KEY.fullmatch(key) else uuid.uuid4().hex
    errors: dict[str, str] = {}
    status = 200
    with kizuna().uow_factory() as uow:
        store, open_stores = store_pages.choose(uow, values["store"])
        if store is None:
            return redirect(url_for(".board"))
        zone = store_pages.zone_of(uow, store)
        day = store_pages.parse_day(values["day"], store_pages.today(zone))
        customer, menu = _chosen(uow, store, values)
        if request.method == "POST":
            try:
                if customer is None:
                    raise InvalidInput(N_("Find the customer first."), field="customer")
                if menu is None:
                    raise InvalidInput(N_("Choose a menu."), field="menu")
                result = reservations.book(
                    uow=uow,
                    customer_id=customer.id,
                    store=store,
                    menu=menu,
                    starts_at=_instant(values["starts_at"]),
                    zone=store_pages.shop_zone(),
                    source="console",
                    idempotency_key=f"console:{values['key']}",
                    staff_user_id=current_user().id,
                    note=values["note"],
                )
                if result.created:  # its reminders are decided as soon as it is committed
                    flow_events.booking_changed(kizuna(), uow, customer.id)
                uow.commit()
            except KizunaError as error:
                uow.rollback()
                errors[_field_of(error)] = store_pages.message(error)
                status = 400
                store, open_stores = store_pages.choose(uow, store.code)
                customer, menu = _chosen(uow, store, values)
            else:
                booking = result.booking
                when = store_pages.moment_text(booking.starts_at, zone)
                flash(
                    _("%(name)s is booked for %(menu)s on %(when)s.", name=customer.name, menu=menu.name, when=when),
                    "info",
                )
                booked_day = booking.starts_at.astimezone(zone).date().isoformat()
                return redirect(url_for(".board", store=store.code, day=booked_day))
        found = []
        if customer is None and values["q"].strip():
            found = customers.search(uow=uow, text=values["q"].strip(), limit=SEARCH_SHOWN)
        menus = reservations.list_menus(uow=uow, store_id=store.id)
        slots = _slots(uow, store, menu, day, zone) if customer is not None else []
    page = render_template(
        "reservations/new.html",
        store=store,
        stores=open_stores,
        values=values,
        errors=errors,
        customer=customer,
        found=found,
        searched=bool(values["q"].strip()),
        menus=menus,
        menu=menu,
        day=day,
        day_label=store_pages.day_text(day),
        slots=slots,
    )
    return page, status


@login_required(role=ROLE)
def new_caller():
    """A first-time caller: make their customer record (name and phone), then go on to book for them."""
    values = {name: request.form.get(name, "")[:200] for name in ("store", "menu", "day", "name", "phone")}
    services = kizuna()
    with services.uow_factory() as uow:
        try:
            phone = contacts.normalize_phone(values["phone"])
            customer = customers.create_customer(uow=uow, name=" ".join(values["name"].split()), phone=phone)
            timeline.record(
                uow=uow,
                kind="created",
                customer_id=customer.id,
                staff_user_id=current_user().id,
                data={"source": "console"},
            )
            uow.commit()
        except KizunaError as error:
            flash(store_pages.message(error), "error")
            return redirect(url_for(".new_booking", store=values["store"], menu=values["menu"], day=values["day"]))
        customer_id = customer.id
    return redirect(
        url_for(".new_booking", store=values["store"], customer=customer_id, menu=values["menu"], day=values["day"])
    )


# -- changing a booking -----------------------------------------------------------------------------------


def _not_found():
    return render_template("console/error.html", title=_("Not found"), message=_("This booking was not found.")), 404


def _booking(uow: UnitOfWork, booking_id: int) -> Booking | None:
    return reservations.get_booking(uow=uow, booking_id=booking_id) if booking_id <= MAX_ID else None


def _board_url(store: Store, day: date) -> str:
    return url_for(".board", store=store.code, day=day.isoformat())


@login_required(role=ROLE)
def move_booking(booking_id: int):
    """Move a booking to another free time (the same menu); the customer is told on LINE."""
    errors: dict[str, str] = {}
    status = 200
    services = kizuna()
    with services.uow_factory() as uow:
        booking = _booking(uow, booking_id)
        if booking is None:
            return _not_found()
        store = uow.session.get(Store, booking.store_id)
        zone = store_pages.zone_of(uow, store)
        source = request.form if request.method == "POST" else request.args
        day = store_pages.parse_day(source.get("day"), booking.starts_at.astimezone(zone).date())
        if request.method == "POST":
            moved_from = booking.starts_at
            try:
                result = reservations.move(
                    uow=uow,
                    booking_id=booking.id,
                    starts_at=_instant(request.form.get("starts_at")),
                    zone=store_pages.shop_zone(),
                    staff_user_id=current_user().id,
                )
                if result.created:
                    queue_booking_changed(services=services, uow=uow, booking=result.booking, moved_from=moved_from)
                    flow_events.booking_changed(services, uow, result.booking.customer_id)
                uow.commit()
            except KizunaError as error:
                uow.rollback()
                errors[_field_of(error)] = store_pages.message(error)
                status = 400
                booking = _booking(uow, booking_id)
                store = uow.session.get(Store, booking.store_id)
            else:
                moved = result.booking
                when = store_pages.moment_text(moved.starts_at, zone)
                flash(_("The booking was moved to %(when)s.", when=when), "info")
                return redirect(store_pages.back_to(_board_url(store, moved.starts_at.astimezone(zone).date())))
        block = blocks_for(uow, [booking], zone)[0]
        menu = uow.session.get(BookingMenu, booking.menu_id)
        slots = _slots(uow, store, menu, day, zone, moving=booking.id) if booking.status == "booked" else []
    page = render_template(
        "reservations/move.html",
        store=store,
        block=block,
        when=store_pages.moment_text(booking.starts_at, zone),
        status_label=status_label,
        day=day,
        day_label=store_pages.day_text(day),
        slots=slots,
        errors=errors,
        back=store_pages.back_to(_board_url(store, booking.starts_at.astimezone(zone).date())),
    )
    return page, status


@login_required(role=ROLE)
def cancel_booking(booking_id: int):
    """Cancel a booking for the customer (who is told on LINE)."""
    services = kizuna()
    with services.uow_factory() as uow:
        booking = _booking(uow, booking_id)
        if booking is None:
            return _not_found()
        store = uow.session.get(Store, booking.store_id)
        zone = store_pages.zone_of(uow, store)
        back = store_pages.back_to(_board_url(store, booking.starts_at.astimezone(zone).date()))
        try:
            result = reservations.cancel(
                uow=uow,
                booking_id=booking.id,
                zone=store_pages.shop_zone(),
                as_staff=True,
                staff_user_id=current_user().id,
            )
            if result.created:
                queue_booking_cancelled(services=services, uow=uow, booking=result.booking)
            uow.commit()
        except KizunaError as error:
            uow.rollback()
            flash(store_pages.message(error), "error")
        else:
            flash(_("The booking was cancelled."), "info")
    return redirect(back)


@login_required(role=ROLE)
def mark_booking(booking_id: int):
    """Mark a booking arrived or no-show, or undo the mark."""
    with kizuna().uow_factory() as uow:
        booking = _booking(uow, booking_id)
        if booking is None:
            return _not_found()
        store = uow.session.get(Store, booking.store_id)
        zone = store_pages.zone_of(uow, store)
        back = store_pages.back_to(_board_url(store, booking.starts_at.astimezone(zone).date()))
        status = request.form.get("status", "")
        try:
            reservations.mark(
                uow=uow,
                booking_id=booking.id,
                status=status,
                zone=store_pages.shop_zone(),
                staff_user_id=current_user().id,
            )
            uow.commit()
        except KizunaError as error:
            uow.rollback()
            flash(store_pages.message(error), "error")
        else:
            flash(_("Marked: %(status)s.", status=status_label(status)), "info")
    return redirect(back)
