"""Reservations on LINE (`予約`): store, menu, day, a free time, confirm; the customer's bookings, change, cancel.

Every step is a postback carrying what was chosen so far (`menu`, `at`, `change`), so no conversation state is
kept: an old button still gets a sensible answer, and the core decides whether what it asks is still possible.
Times are shown in the store's zone (`rules_for(...).zone`); start times travel in postbacks in UTC.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from bot.flows import registration
from bot.handlers.context import EventContext
from crm_core import reservations
from crm_core.errors import BookingClosed, NotBookable, NotFound, SlotTaken, TooLateToChange
from crm_core.models import Booking, BookingMenu, Customer, Store
from crm_core.reservations.availability import Rules, Slot, window

CAROUSEL = 12  # LINE's most bubbles in a carousel: stores, menus, bookings shown
TIMES = 12  # free times in one answer (with "another day": 13 quick replies, LINE's most)
TIMES_WITH_LATER = 11  # when more are free: these, "later times" and "another day"
NEAREST = 5  # times offered when the chosen one is gone
AT = "%Y%m%dT%H%MZ"  # a start time in a postback (UTC)


class _Refused(Exception):
    """What the customer asked cannot be done: answered with `booking_refused`."""

    def __init__(self, reason: str, store: Store | None = None):
        super().__init__(reason)
        self.reason, self.store = reason, store


def _member(ctx: EventContext) -> Customer | None:
    if not registration.require_consent(ctx):
        return None
    customer = ctx.customer
    if customer is None:
        ctx.reply("need_membership")
    return customer


def _step(function):
    """A step for members only; a refusal is answered in the customer's words."""

    @functools.wraps(function)
    def step(ctx: EventContext, params: dict | None = None) -> None:
        customer = _member(ctx)
        if customer is None:
            return
        try:
            function(ctx, customer, params or {})
        except _Refused as refused:
            store = refused.store
            ctx.reply(
                "booking_refused",
                reason=refused.reason,
                store=store.name if store else "",
                phone=(store.phone or "") if store else "",
            )

    return step


def _data(step: str, **params) -> str:
    """A button's postback: every step is the `reservations` action (as the timeline keeps it) and its `step`."""
    chosen = {key: value for key, value in params.items() if value is not None}
    return urlencode({"action": "reservations", "step": step, **chosen})


def _whole(raw) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else None


def _at(raw) -> datetime | None:
    try:
        return datetime.strptime(raw, AT).replace(tzinfo=UTC) if isinstance(raw, str) else None
    except ValueError:
        return None


def _day(raw) -> date | None:
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        return None


# -- what was chosen ---------------------------------------------------------------------------------


def _store(ctx: EventContext, raw) -> Store:
    store_id = _whole(raw)
    store = next((s for s in reservations.bookable_stores(uow=ctx.uow) if s.id == store_id), None)
    if store is None:
        raise _Refused("not_available")
    return store


def _menu(ctx: EventContext, raw) -> tuple[Store, BookingMenu]:
    menu_id = _whole(raw)
    menu = ctx.uow.session.get(BookingMenu, menu_id) if menu_id else None
    store = ctx.uow.session.get(Store, menu.store_id) if menu is not None else None
    if menu is None or not menu.active or store is None or not store.active:
        raise _Refused("not_available")
    return store, menu


def _mine(ctx: EventContext, customer: Customer, raw) -> Booking:
    booking = reservations.get_booking(uow=ctx.uow, booking_id=_whole(raw))
    if booking is None or booking.customer_id != customer.id or booking.status in ("held", "released"):
        raise _Refused("not_found")
    return booking


def _changeable(ctx: EventContext, customer: Customer, raw, *, menu: BookingMenu | None = None) -> Booking | None:
    """The booking being changed (postback `change`), if the customer may still change it; None when not a change."""
    if raw is None:
        return None
    booking = _mine(ctx, customer, raw)
    store = ctx.uow.session.get(Store, booking.store_id)
    if booking.status != "booked" or (menu is not None and booking.menu_id != menu.id):
        raise _Refused("not_changeable", store)
    if not reservations.can_change(uow=ctx.uow, booking=booking, zone=ctx.settings.zone):
        raise _Refused("too_late", store)
    return booking


def _rules(ctx: EventContext, store: Store) -> Rules:
    return reservations.rules_for(uow=ctx.uow, store=store, zone=ctx.settings.zone)


def _shown(ctx: EventContext, booking: Booking) -> dict:
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
        "zone": reservations.zone_of(reservations.get_settings(uow=ctx.uow, store_id=store.id), ctx.settings.zone),
    }


# -- booking -----------------------------------------------------------------------------------------


@_step
def start(ctx: EventContext, customer: Customer, params: dict) -> None:
    """`予約`: the stores to choose from, or the menus when only one store takes bookings."""
    stores = reservations.bookable_stores(uow=ctx.uow)
    if not stores:
        raise _Refused("not_open")
    if len(stores) == 1:
        _offer_menus(ctx, stores[0])
        return
    ctx.reply(
        "booking_stores",
        stores=[
            {"name": store.name, "address": store.address or "", "data": _data("store", store=store.id)}
            for store in stores[:CAROUSEL]
        ],
    )


@_step
def choose_store(ctx: EventContext, customer: Customer, params: dict) -> None:
    _offer_menus(ctx, _store(ctx, params.get("store")))


def _offer_menus(ctx: EventContext, store: Store) -> None:
    menus = reservations.list_menus(uow=ctx.uow, store_id=store.id)[:CAROUSEL]
    ctx.reply(
        "booking_menus",
        store=store.name,
        menus=[
            {
                "name": menu.name,
                "minutes": menu.duration_minutes,
                "price": menu.price,
                "description": menu.description or "",
                "data": _data("menu", menu=menu.id),
            }
            for menu in menus
        ],
    )


@_step
def choose_menu(ctx: EventContext, customer: Customer, params: dict) -> None:
    store, menu = _menu(ctx, params.get("menu"))
    change = _changeable(ctx, customer, params.get("change"), menu=menu)
    _ask_day(ctx, store, menu, _rules(ctx, store), change=change)


def _picker(menu: BookingMenu, rules: Rules, change: Booking | None, day: date | None = None) -> dict:
    """LINE's date picker for the days one may book: from the first with time enough, to the last of the window."""
    earliest, last_day = window(rules)
    first = earliest.astimezone(rules.zone).date()
    last_day = max(last_day, first)  # a notice longer than the horizon: the picker still opens
    initial = min(max(day or first, first), last_day)
    data = _data("day", menu=menu.id, change=change.id if change else None)
    return {"data": data, "initial": initial.isoformat(), "min": first.isoformat(), "max": last_day.isoformat()}


def _ask_day(
    ctx: EventContext,
    store: Store,
    menu: BookingMenu,
    rules: Rules,
    *,
    change: Booking | None = None,
    note: str | None = None,
    day: date | None = None,
) -> None:
    ctx.reply(
        "booking_day",
        store=store.name,
        menu=menu.name,
        changing=change is not None,
        note=note,
        days=rules.settings.horizon_days,
        picker=_picker(menu, rules, change, day),
    )


@_step
def choose_day(ctx: EventContext, customer: Customer, params: dict) -> None:
    """The free times of the day picked (`param_date` from the picker, or `date`), from `from` on."""
    store, menu = _menu(ctx, params.get("menu"))
    change = _changeable(ctx, customer, params.get("change"), menu=menu)
    rules = _rules(ctx, store)
    day = _day(params.get("param_date") or params.get("date"))
    _earliest, last_day = window(rules)
    note = None
    if day is None:
        note = "no_day"
    elif day < rules.now.astimezone(rules.zone).date():
        note = "past"
    elif day > last_day:
        note = "too_far"
    elif not rules.hours.intervals_on(day):
        note = "closed"
    if note is not None:
        _ask_day(ctx, store, menu, rules, change=change, note=note, day=day)
        return
    slots = reservations.free_slots(uow=ctx.uow, rules=rules, menu=menu, day=day)
    after = _at(params.get("from"))
    if after is not None:
        slots = [slot for slot in slots if slot.starts_at >= after]
    if not slots:
        around = reservations.day_bounds(day, rules.zone)[0]
        _offer_nearest(ctx, store, menu, rules, around, change=change, note="none_that_day", day=day)
        return
    _offer_times(ctx, store, menu, rules, slots, change=change, day=day)


def _offer_times(
    ctx: EventContext,
    store: Store,
    menu: BookingMenu,
    rules: Rules,
    slots: list[Slot],
    *,
    change: Booking | None,
    day: date,
    note: str | None = None,
    nearest: bool = False,
) -> None:
    """Free times as quick replies; when more than fit, the first ones and a "later times" reply."""
    later = None
    if len(slots) > TIMES:
        slots, rest = slots[:TIMES_WITH_LATER], slots[TIMES_WITH_LATER:]
        later = _data(
            "day",
            menu=menu.id,
            date=day.isoformat(),
            change=change.id if change else None,
            **{"from": rest[0].starts_at.strftime(AT)},
        )
    change_id = change.id if change else None
    ctx.reply(
        "booking_times",
        store=store.name,
        menu=menu.name,
        on_day=day,
        zone=rules.zone,
        note=note,
        nearest=nearest,
        times=[
            {
                "starts_at": slot.starts_at,
                "data": _data("time", menu=menu.id, at=slot.starts_at.strftime(AT), change=change_id),
            }
            for slot in slots
        ],
        later=later,
        picker=_picker(menu, rules, change, day),
    )


def _offer_nearest(
    ctx: EventContext,
    store: Store,
    menu: BookingMenu,
    rules: Rules,
    around: datetime,
    *,
    change: Booking | None,
    note: str,
    day: date | None = None,
) -> None:
    """The chosen time or day has nothing free: say why, and offer the nearest free times."""
    slots = reservations.nearest_free(uow=ctx.uow, rules=rules, menu=menu, around=around, count=NEAREST)
    day = day or around.astimezone(rules.zone).date()
    _offer_times(ctx, store, menu, rules, slots, change=change, day=day, note=note, nearest=True)


@_step
def choose_time(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Hold the time tapped while the customer confirms; if it is gone, the nearest free ones."""
    store, menu = _menu(ctx, params.get("menu"))
    change = _changeable(ctx, customer, params.get("change"), menu=menu)
    rules = _rules(ctx, store)
    starts_at = _at(params.get("at"))
    if starts_at is None:
        raise _Refused("not_available")
    try:
        with ctx.uow.session.begin_nested():  # a refused hold leaves nothing behind (not even the released ones)
            held = reservations.hold(
                uow=ctx.uow,
                customer_id=customer.id,
                store=store,
                menu=menu,
                starts_at=starts_at,
                zone=ctx.settings.zone,
                replaces_id=change.id if change else None,
            )
    except SlotTaken:
        _offer_nearest(ctx, store, menu, rules, starts_at, change=change, note="taken")
        return
    except NotBookable as refused:
        reason = refused.params.get("reason", "off_grid")
        if reason in ("too_far", "closed"):
            _ask_day(ctx, store, menu, rules, change=change, note=reason)
        else:
            _offer_nearest(ctx, store, menu, rules, starts_at, change=change, note=reason)
        return
    except TooLateToChange:
        raise _Refused("too_late", store) from None
    except (BookingClosed, NotFound):
        raise _Refused("not_changeable", store) from None
    another = _data(
        "day",
        menu=menu.id,
        date=starts_at.astimezone(rules.zone).date().isoformat(),
        change=change.id if change else None,
    )
    ctx.reply(
        "booking_confirm",
        **_shown(ctx, held),
        held_until=held.hold_expires_at,
        changed_from=change.starts_at if change else None,
        confirm=_data("confirm", id=held.id),
        another=another,
    )


@_step
def confirm(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Book the held time (a second tap says it is booked, once); if it was taken meanwhile, the nearest ones."""
    booking_id = _whole(params.get("id"))
    try:
        with ctx.uow.session.begin_nested():
            result = reservations.confirm(
                uow=ctx.uow, booking_id=booking_id, customer_id=customer.id, zone=ctx.settings.zone
            )
    except NotFound:
        raise _Refused("not_found") from None
    except (SlotTaken, BookingClosed, TooLateToChange) as error:
        held = reservations.get_booking(uow=ctx.uow, booking_id=booking_id)
        store = ctx.uow.session.get(Store, held.store_id)
        replaced = reservations.get_booking(uow=ctx.uow, booking_id=held.replaces_id) if held.replaces_id else None
        if isinstance(error, TooLateToChange):
            raise _Refused("too_late", store) from None
        if isinstance(error, BookingClosed):  # given up for another time, run out and past, or the old one closed
            gone = replaced is not None and replaced.status != "booked"
            raise _Refused("not_changeable" if gone else "hold_ended", store) from None
        menu = ctx.uow.session.get(BookingMenu, held.menu_id)
        _offer_nearest(ctx, store, menu, _rules(ctx, store), held.starts_at, change=replaced, note="taken")
        return
    booking = result.booking
    ctx.reply("booking_done", **_shown(ctx, booking), created=result.created, changed=booking.replaces_id is not None)


# -- the customer's bookings ------------------------------------------------------------------------


@_step
def list_bookings(ctx: EventContext, customer: Customer, params: dict) -> None:
    """The upcoming bookings, each with Change and Cancel while the store's deadline allows, else its phone."""
    bookings = reservations.list_for_customer(uow=ctx.uow, customer_id=customer.id, upcoming=True)
    ctx.reply(
        "bookings",
        bookings=[
            {
                **_shown(ctx, booking),
                "can_change": reservations.can_change(uow=ctx.uow, booking=booking, zone=ctx.settings.zone),
                "change": _data("change", id=booking.id),
                "cancel": _data("cancel", id=booking.id),
            }
            for booking in bookings[:CAROUSEL]
        ],
        more=max(len(bookings) - CAROUSEL, 0),
    )


@_step
def change(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Change a booking: a new day and time for the same menu (the old one stays until the new one is booked)."""
    booking = _changeable(ctx, customer, params.get("id"))
    store, menu = _menu(ctx, str(booking.menu_id))
    _ask_day(ctx, store, menu, _rules(ctx, store), change=booking)


@_step
def ask_cancel(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Ask before cancelling."""
    booking = _mine(ctx, customer, params.get("id"))
    if booking.status == "cancelled":
        ctx.reply("booking_cancelled", **_shown(ctx, booking), created=False)
        return
    _changeable(ctx, customer, params.get("id"))
    ctx.reply("booking_cancel_ask", **_shown(ctx, booking), cancel=_data("cancel_do", id=booking.id))


@_step
def cancel(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Cancel (once: a second tap says it is cancelled); after the store's deadline, call the store."""
    booking = _mine(ctx, customer, params.get("id"))
    store = ctx.uow.session.get(Store, booking.store_id)
    try:
        result = reservations.cancel(
            uow=ctx.uow, booking_id=booking.id, zone=ctx.settings.zone, customer_id=customer.id
        )
    except TooLateToChange:
        raise _Refused("too_late", store) from None
    except BookingClosed:
        raise _Refused("not_changeable", store) from None
    ctx.reply("booking_cancelled", **_shown(ctx, result.booking), created=result.created)


STEPS = {
    "": start,
    "list": list_bookings,
    "store": choose_store,
    "menu": choose_menu,
    "day": choose_day,
    "time": choose_time,
    "confirm": confirm,
    "change": change,
    "cancel": ask_cancel,
    "cancel_do": cancel,
}


def reservations_step(ctx: EventContext, params: dict | None = None) -> None:
    """`予約` (or its button) starts; the conversation's buttons name their `step`."""
    params = params or {}
    step = STEPS.get(params.get("step", ""))
    if step is None:
        ctx.reply("unknown_postback")
        return
    step(ctx, params)


ACTIONS = {"reservations": reservations_step}
