"""A customer's bookings on their console page: the upcoming ones, the past ones with what became of them, and
how often they did not come."""

from __future__ import annotations

from dataclasses import dataclass

from bot.console.reservations import stores as store_pages
from bot.console.reservations.board import status_label
from crm_core import reservations
from crm_core.models import BookingMenu, Store
from crm_core.uow import UnitOfWork

SHOWN = 50


@dataclass
class Line:
    booking_id: int
    store: str
    store_code: str
    menu: str
    when: str
    day: str  # YYYY-MM-DD in the store's zone, for the link to that day
    status: str
    status_label: str
    price: int


@dataclass
class Panel:
    upcoming: list[Line]
    past: list[Line]
    no_shows: int


def customer_bookings(*, uow: UnitOfWork, customer_id: int) -> Panel:
    """The customer's bookings in each store's time zone: booked ones still ahead first, soonest first."""
    found = reservations.list_for_customer(uow=uow, customer_id=customer_id, limit=SHOWN)
    now = uow.now()
    places: dict[int, tuple[Store, object]] = {}
    menus: dict[int, BookingMenu] = {}
    upcoming, past = [], []
    for booking in found:
        if booking.store_id not in places:
            store = uow.session.get(Store, booking.store_id)
            places[booking.store_id] = (store, store_pages.zone_of(uow, store))
        store, zone = places[booking.store_id]
        menu = menus.setdefault(booking.menu_id, uow.session.get(BookingMenu, booking.menu_id))
        line = Line(
            booking_id=booking.id,
            store=store.name,
            store_code=store.code,
            menu=menu.name,
            when=store_pages.moment_text(booking.starts_at, zone),
            day=booking.starts_at.astimezone(zone).date().isoformat(),
            status=booking.status,
            status_label=status_label(booking.status),
            price=booking.price,
        )
        (upcoming if booking.status == "booked" and booking.ends_at > now else past).append(line)
    upcoming.reverse()  # found newest first; the next one first
    return Panel(upcoming=upcoming, past=past, no_shows=reservations.no_shows(uow=uow, customer_id=customer_id))
