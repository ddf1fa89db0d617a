"""The bookings of a store's day or week (staff): a timeline per resource or per menu, with each booking's
customer, menu and status, and the day's list with what staff may do with each (see bookings.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import Blueprint, render_template, request, url_for
from sqlmodel import select

from bot.console.reservations import stores as store_pages
from bot.console.session import current_user, kizuna, login_required
from bot.web_i18n import gettext as _
from crm_core import reservations
from crm_core.errors import N_
from crm_core.models import Booking, BookingMenu, BookingResource, Customer, Store
from crm_core.uow import UnitOfWork

ROLE = "staff"
UNIT = 5  # minutes a column of the day's timeline stands for
DAY_MINUTES = 24 * 60
DEFAULT_HOURS = (9 * 60, 18 * 60)  # the day shown when the store is closed and nothing is booked
STATUS_LABELS = {
    "held": N_("Being booked on LINE"),
    "booked": N_("Booked"),
    "arrived": N_("Arrived"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"),
}
SOURCE_LABELS = {"line": N_("LINE"), "console": N_("Console"), "api": N_("API")}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("", view_func=board, endpoint="board")


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


def source_label(source: str) -> str:
    """Where the booking was made: on LINE, in the console (a phone call), through the API."""
    return _(SOURCE_LABELS.get(source, source))


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
        source_label=source_label,
        is_admin=is_admin,
        back=request.full_path.rstrip("?"),
    )
