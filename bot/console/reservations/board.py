"""The bookings of a store's day or week (staff): a timeline per resource or per menu, and what staff do with a
booking: add one for a customer who phoned, mark arrived or no-show (and undo), move it, cancel it.

Moving or cancelling tells the customer on LINE (an outbox row written with the change, sent after the commit).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlmodel import select

from bot import flow_events
from bot.console.reservations import stores as store_pages
from bot.console.session import current_user, kizuna, login_required
from bot.notifications import queue_booking_cancelled, queue_booking_changed
from bot.web_i18n import gettext as _
from crm_core import customers, reservations
from crm_core.errors import N_, Conflict, InvalidInput, KizunaError, NotBookable
from crm_core.models import Booking, BookingMenu, BookingResource, Customer, Store
from crm_core.uow import UnitOfWork

ROLE = "staff"
MAX_ID = 2**31 - 1
UNIT = 5  # minutes a column of the day's timeline stands for
DAY_MINUTES = 24 * 60
DEFAULT_HOURS = (9 * 60, 18 * 60)  # the day shown when the store is closed and nothing is booked
SEARCH_SHOWN = 20
STATUS_LABELS = {
    "held": N_("Being booked on LINE"),
    "booked": N_("Booked"),
    "arrived": N_("Arrived"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"),
}
SOURCE_LABELS = {"line": N_("LINE"), "console": N_("Console"), "api": N_("API")}
_KEY = re.compile(r"[0-9a-f]{32}")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("", view_func=board, endpoint="board")
    bp.add_url_rule("/new", view_func=new_booking, methods=["GET", "POST"])
    bp.add_url_rule("/bookings/<int:booking_id>/move", view_func=move_booking, methods=["GET", "POST"])
    bp.add_url_rule("/bookings/<int:booking_id>/cancel", view_func=cancel_booking, methods=["POST"])
    bp.add_url_rule("/bookings/<int:booking_id>/mark", view_func=mark_booking, methods=["POST"])


# -- how a booking reads ----------------------------------------------------------------------------------


@dataclass
class Block:
    """A booking as the timeline and the day's list show it."""

    booking: Booking
    customer: str
    member_number: str
    menu: str
    resource: str
    starts: str
    ends: str
    status: str
    start_minute: int = 0  # from the business day's midnight, in the store's zone
    end_minute: int = 0

    @property
    def actions(self) -> list[str]:
        """What staff may do with it now (the buttons)."""
        if self.status == "booked":
            return ["arrived", "no_show", "move", "cancel"]
        if self.status in ("arrived", "no_show"):
            return ["undo"]
        return []


@dataclass
class Row:
    """One resource (or menu) of the timeline: its lanes of bookings that do not overlap (day), or its bookings
    per day (week)."""

    key: str
    label: str
    lanes: list[list[tuple[int, Block | None]]] = field(default_factory=list)
    days: list[list[Block]] = field(default_factory=list)


def status_label(status: str) -> str:
    return _(STATUS_LABELS.get(status, status))


def _minute(moment: datetime, day: date, zone) -> int:
    local = moment.astimezone(zone)
    return (local.date() - day).days * DAY_MINUTES + local.hour * 60 + local.minute


def blocks_for(uow: UnitOfWork, bookings: list[Booking], zone) -> list[Block]:
    """The bookings with their customer's name, menu, resource and times in the store's zone."""
    customer_ids = {booking.customer_id for booking in bookings}
    people = {
        customer.id: customer
        for customer in uow.session.exec(select(Customer).where(Customer.id.in_(customer_ids or {0})))
    }
    menus = {
        menu.id: menu
        for menu in uow.session.exec(
            select(BookingMenu).where(BookingMenu.id.in_({b.menu_id for b in bookings} or {0}))
        )
    }
    resources = {
        resource.id: resource
        for resource in uow.session.exec(
            select(BookingResource).where(BookingResource.id.in_({b.resource_id for b in bookings} or {0}))
        )
    }
    blocks = []
    for booking in bookings:
        person = people.get(booking.customer_id)
        blocks.append(
            Block(
                booking=booking,
                customer=(person.name if person and person.erased_at is None else _("(erased)")),
                member_number=person.member_number if person else "",
                menu=menus[booking.menu_id].name,
                resource=resources[booking.resource_id].name,
                starts=store_pages.clock_text(booking.starts_at, zone),
                ends=store_pages.clock_text(booking.ends_at, zone),
                status=booking.status,
            )
        )
    return blocks


def _row_keys(uow: UnitOfWork, store: Store, by: str, blocks: list[Block]) -> list[tuple[str, str]]:
    """The timeline's rows: every active menu's resources (or the active menus), then any other with bookings."""
    menus = reservations.list_menus(uow=uow, store_id=store.id)
    rows: dict[str, str] = {}
    if by == "menu":
        for menu in menus:
            rows[str(menu.id)] = menu.name
        for block in blocks:
            rows.setdefault(str(block.booking.menu_id), block.menu)
    else:
        for menu in menus:
            for resource in reservations.menu_resources(uow=uow, menu_id=menu.id):
                rows.setdefault(str(resource.id), resource.name)
        for block in blocks:
            rows.setdefault(str(block.booking.resource_id), block.resource)
    return list(rows.items())


def _row_of(block: Block, by: str) -> str:
    return str(block.booking.menu_id if by == "menu" else block.booking.resource_id)


def _lanes(blocks: list[Block], start: int, end: int) -> list[list[tuple[int, Block | None]]]:
    """Bookings that overlap go to lanes of their own; each lane as (columns, block or None for a gap)."""
    lanes: list[list[Block]] = []
    for block in sorted(blocks, key=lambda b: (b.start_minute, b.booking.id)):
        lane = next((lane for lane in lanes if lane[-1].end_minute <= block.start_minute), None)
        if lane is None:
            lanes.append([block])
        else:
            lane.append(block)
    cells = []
    for lane in lanes or [[]]:
        row, at = [], start
        for block in lane:
            if block.start_minute > at:
                row.append(((block.start_minute - at) // UNIT, None))
            row.append((max(1, (block.end_minute - block.start_minute) // UNIT), block))
            at = block.end_minute
        if at < end:
            row.append(((end - at) // UNIT, None))
        cells.append(row)
    return cells


def _day_window(rules: reservations.Rules, day: date, blocks: list[Block]) -> tuple[int, int]:
    """The minutes the day's timeline spans: its opening hours and every booking, in whole hours."""
    intervals = rules.hours.intervals_on(day)
    starts = [opens for opens, _closes in intervals] + [block.start_minute for block in blocks]
    ends = [closes for _opens, closes in intervals] + [block.end_minute for block in blocks]
    if not starts:
        return DEFAULT_HOURS
    return min(starts) // 60 * 60, min(DAY_MINUTES, -(-max(ends) // 60) * 60)


# -- the day and the week ---------------------------------------------------------------------------------


@login_required(role=ROLE)
def board():
    """Show a store's bookings of a day or a week as a timeline per resource or per menu."""
    view = "week" if request.args.get("view") == "week" else "day"
    by = "menu" if request.args.get("by") == "menu" else "resource"
    with kizuna().uow_factory() as uow:
        store, open_stores = store_pages.choose(uow, request.args.get("store"))
        if store is None:
            return render_template("reservations/board.html", store=None, stores=open_stores, view=view, by=by)
        zone = store_pages.zone_of(uow, store)
        today = store_pages.today(zone)
        day = store_pages.parse_day(request.args.get("day"), today)
        rules = reservations.rules_for(uow=uow, store=store, zone=store_pages.shop_zone())
        first = day - timedelta(days=day.weekday()) if view == "week" else day
        days = [first + timedelta(days=n) for n in range(7 if view == "week" else 1)]
        start, _end = reservations.day_bounds(days[0], zone)
        _start, end = reservations.day_bounds(days[-1], zone)
        bookings = reservations.list_for_store(uow=uow, store_id=store.id, start=start, end=end, include_cancelled=True)
        blocks = blocks_for(uow, bookings, zone)
        shown = [block for block in blocks if block.status != "cancelled"]
        rows = [Row(key, label) for key, label in _row_keys(uow, store, by, shown)]
        window = hours = None
        if view == "day":
            for block in shown:
                block.start_minute = max(0, _minute(block.booking.starts_at, day, zone))
                block.end_minute = min(DAY_MINUTES, _minute(block.booking.ends_at, day, zone))
            window = _day_window(rules, day, shown)
            for row in rows:
                row.lanes = _lanes([b for b in shown if _row_of(b, by) == row.key], *window)
            hours = [
                store_pages.clock_text(datetime.combine(day, time(hour), tzinfo=zone), zone)
                for hour in range(window[0] // 60, window[1] // 60)
            ]
        else:
            for row in rows:
                mine = [b for b in shown if _row_of(b, by) == row.key]
                row.days = [[b for b in mine if b.booking.starts_at.astimezone(zone).date() == d] for d in days]
        is_admin = current_user().role == "admin"
    step = timedelta(days=7 if view == "week" else 1)
    links = {
        name: url_for(".board", store=store.code, day=target.isoformat(), view=view, by=by)
        for name, target in (("prev", day - step), ("next", day + step), ("today", today))
    }
    return render_template(
        "reservations/board.html",
        store=store,
        stores=open_stores,
        view=view,
        by=by,
        day=day,
        day_label=store_pages.day_text(day),
        days=[(d, store_pages.day_text(d)) for d in days],
        today=today,
        rows=rows,
        hours=hours,
        columns=(window[1] - window[0]) // UNIT if window else 0,
        blocks=blocks if view == "day" else [],
        links=links,
        status_label=status_label,
        is_admin=is_admin,
        back=request.full_path.rstrip("?"),
    )


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


def _slots(uow: UnitOfWork, store: Store, menu: BookingMenu | None, day: date, zone) -> list[tuple[str, str, int]]:
    """The free times staff may book for `menu` that day: (value for the form, time, places left)."""
    if menu is None:
        return []
    rules = reservations.rules_for(uow=uow, store=store, zone=store_pages.shop_zone())
    slots = reservations.free_slots(uow=uow, rules=rules, menu=menu, day=day, by_staff=True)
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
        slots = _slots(uow, store, menu, day, zone) if booking.status == "booked" else []
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
