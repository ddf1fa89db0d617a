"""What a booking step was given: its postback's choices read back into a store, a menu, a time, a booking.

A step runs for members only (`for_members`); what cannot be done is raised as `Refused` and answered in
the customer's words. Start times travel in postbacks in UTC (`AT`).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from bot.flows import registration
from bot.handlers.context import EventContext
from crm_core import reservations
from crm_core.models import Booking, BookingMenu, Customer, Store
from crm_core.reservations.availability import Rules

CAROUSEL = 12  # LINE's most bubbles in a carousel: stores, menus, bookings shown
AT = "%Y%m%dT%H%MZ"  # a start time in a postback (UTC)


class Refused(Exception):
    """What the customer asked cannot be done: answered with `booking_refused`."""

    def __init__(self, reason: str, store: Store | None = None):
        super().__init__(reason)
        self.reason, self.store = reason, store


def member(ctx: EventContext) -> Customer | None:
    if not registration.require_consent(ctx):
        return None
    customer = ctx.customer
    if customer is None:
        ctx.reply("need_membership")
    return customer


def for_members(function):
    """A step for members only; a refusal is answered in the customer's words."""

    @functools.wraps(function)
    def step(ctx: EventContext, params: dict | None = None) -> None:
        customer = member(ctx)
        if customer is None:
            return
        try:
            function(ctx, customer, params or {})
        except Refused as refused:
            store = refused.store
            ctx.reply(
                "booking_refused",
                reason=refused.reason,
                store=store.name if store else "",
                phone=(store.phone or "") if store else "",
            )

    return step


def postback(step: str, **params) -> str:
    """A button's postback: every step is the `reservations` action (as the timeline keeps it) and its `step`."""
    chosen = {key: value for key, value in params.items() if value is not None}
    return urlencode({"action": "reservations", "step": step, **chosen})


def whole(raw) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else None


def moment_of(raw) -> datetime | None:
    try:
        return datetime.strptime(raw, AT).replace(tzinfo=UTC) if isinstance(raw, str) else None
    except ValueError:
        return None


def day_of(raw) -> date | None:
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        return None


# -- what was chosen ---------------------------------------------------------------------------------


def chosen_store(ctx: EventContext, raw) -> Store:
    store_id = whole(raw)
    store = next((s for s in reservations.bookable_stores(uow=ctx.uow) if s.id == store_id), None)
    if store is None:
        raise Refused("not_available")
    return store


def chosen_menu(ctx: EventContext, raw) -> tuple[Store, BookingMenu]:
    menu_id = whole(raw)
    menu = ctx.uow.session.get(BookingMenu, menu_id) if menu_id else None
    store = ctx.uow.session.get(Store, menu.store_id) if menu is not None else None
    if menu is None or not menu.active or store is None or not store.active:
        raise Refused("not_available")
    return store, menu


def own_booking(ctx: EventContext, customer: Customer, raw) -> Booking:
    booking = reservations.get_booking(uow=ctx.uow, booking_id=whole(raw))
    if booking is None or booking.customer_id != customer.id or booking.status in ("held", "released"):
        raise Refused("not_found")
    return booking


def changeable(ctx: EventContext, customer: Customer, raw, *, menu: BookingMenu | None = None) -> Booking | None:
    """The booking being changed (postback `change`), if the customer may still change it; None when not a change."""
    if raw is None:
        return None
    booking = own_booking(ctx, customer, raw)
    store = ctx.uow.session.get(Store, booking.store_id)
    if booking.status != "booked" or (menu is not None and booking.menu_id != menu.id):
        raise Refused("not_changeable", store)
    if not reservations.can_change(uow=ctx.uow, booking=booking, zone=ctx.settings.zone):
        raise Refused("too_late", store)
    return booking


def rules_of(ctx: EventContext, store: Store) -> Rules:
    return reservations.rules_for(uow=ctx.uow, store=store, zone=ctx.settings.zone)


def shown(ctx: EventContext, booking: Booking) -> dict:
    """What a template says about a booking (or a hold): what, when, where, how much."""
    store = ctx.uow.session.get(Store, booking.store_id)
    menu = ctx.uow.session.get(BookingMenu, booking.menu_id)
    return {
        "id": booking.id,
        "menu": menu.name,
        "minutes": menu.duration_minutes,
        "price": booking.price,
        "store": store.name,
        "address": store.address or "",
        "phone": store.phone or "",
        "starts_at": booking.starts_at,
        "zone": reservations.zone_of(reservations.get_settings(uow=ctx.uow, store_id=store.id), ctx.settings.zone).key,
    }
