"""Booking: the store, the menu, a day (LINE's date picker), a free time held while the customer confirms."""

from __future__ import annotations

from datetime import date, datetime

from bot import flow_events
from bot.flows.reservations.choices import (
    AT,
    CAROUSEL,
    Refused,
    changeable,
    chosen_menu,
    chosen_store,
    day_of,
    for_members,
    moment_of,
    postback,
    rules_of,
    shown,
    whole,
)
from bot.handlers.context import EventContext
from crm_core import reservations
from crm_core.errors import BookingClosed, NotBookable, NotFound, SlotTaken, TooLateToChange
from crm_core.models import Booking, BookingMenu, Customer, Store
from crm_core.reservations.availability import Rules, Slot, window

TIMES = 12  # free times in one answer (with "another day": 13 quick replies, LINE's most)
TIMES_WITH_LATER = 11  # when more are free: these, "later times" and "another day"
NEAREST = 5  # times offered when the chosen one is gone


@for_members
def start(ctx: EventContext, customer: Customer, params: dict) -> None:
    """`予約`: the stores to choose from, or the menus when only one store takes bookings."""
    stores = reservations.bookable_stores(uow=ctx.uow)
    if not stores:
        raise Refused("not_open")
    if len(stores) == 1:
        _offer_menus(ctx, stores[0])
        return
    ctx.reply(
        "booking_stores",
        stores=[
            {"name": store.name, "address": store.address or "", "data": postback("store", store=store.id)}
            for store in stores[:CAROUSEL]
        ],
    )


@for_members
def choose_store(ctx: EventContext, customer: Customer, params: dict) -> None:
    _offer_menus(ctx, chosen_store(ctx, params.get("store")))


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
                "data": postback("menu", menu=menu.id),
            }
            for menu in menus
        ],
    )


@for_members
def choose_menu(ctx: EventContext, customer: Customer, params: dict) -> None:
    store, menu = chosen_menu(ctx, params.get("menu"))
    change = changeable(ctx, customer, params.get("change"), menu=menu)
    ask_day(ctx, store, menu, rules_of(ctx, store), change=change)


def _picker(menu: BookingMenu, rules: Rules, change: Booking | None, day: date | None = None) -> dict:
    """LINE's date picker for the days one may book: from the first with time enough, to the last of the window."""
    earliest, last_day = window(rules)
    first = earliest.astimezone(rules.zone).date()
    last_day = max(last_day, first)  # a notice longer than the horizon: the picker still opens
    initial = min(max(day or first, first), last_day)
    data = postback("day", menu=menu.id, change=change.id if change else None)
    return {"data": data, "initial": initial.isoformat(), "min": first.isoformat(), "max": last_day.isoformat()}


def ask_day(
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


@for_members
def choose_day(ctx: EventContext, customer: Customer, params: dict) -> None:
    """The free times of the day picked (`param_date` from the picker, or `date`), from `from` on."""
    store, menu = chosen_menu(ctx, params.get("menu"))
    change = changeable(ctx, customer, params.get("change"), menu=menu)
    rules = rules_of(ctx, store)
    day = day_of(params.get("param_date") or params.get("date"))
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
        ask_day(ctx, store, menu, rules, change=change, note=note, day=day)
        return
    ignoring = change.id if change else None  # a change may move into its own booking's places
    slots = reservations.free_slots(uow=ctx.uow, rules=rules, menu=menu, day=day, ignoring=ignoring)
    after = moment_of(params.get("from"))
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
    if change is not None:  # its own time is no change
        slots = [slot for slot in slots if slot.starts_at != change.starts_at]
    later = None
    if len(slots) > TIMES:
        slots, rest = slots[:TIMES_WITH_LATER], slots[TIMES_WITH_LATER:]
        later = postback(
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
        zone=rules.zone.key,  # templates format times in a zone given by name
        note=note,
        nearest=nearest,
        times=[
            {
                "starts_at": slot.starts_at,
                "data": postback("time", menu=menu.id, at=slot.starts_at.strftime(AT), change=change_id),
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
    ignoring = change.id if change else None
    slots = reservations.nearest_free(
        uow=ctx.uow, rules=rules, menu=menu, around=around, count=NEAREST, ignoring=ignoring
    )
    day = day or around.astimezone(rules.zone).date()
    _offer_times(ctx, store, menu, rules, slots, change=change, day=day, note=note, nearest=True)


@for_members
def choose_time(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Hold the time tapped while the customer confirms; if it is gone, the nearest free ones."""
    store, menu = chosen_menu(ctx, params.get("menu"))
    change = changeable(ctx, customer, params.get("change"), menu=menu)
    rules = rules_of(ctx, store)
    starts_at = moment_of(params.get("at"))
    if starts_at is None:
        raise Refused("not_available")
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
            ask_day(ctx, store, menu, rules, change=change, note=reason)
        else:
            _offer_nearest(ctx, store, menu, rules, starts_at, change=change, note=reason)
        return
    except TooLateToChange:
        raise Refused("too_late", store) from None
    except (BookingClosed, NotFound):
        raise Refused("not_changeable", store) from None
    another = postback(
        "day",
        menu=menu.id,
        date=starts_at.astimezone(rules.zone).date().isoformat(),
        change=change.id if change else None,
    )
    ctx.reply(
        "booking_confirm",
        **shown(ctx, held),
        held_until=held.hold_expires_at,
        changed_from=change.starts_at if change else None,
        confirm=postback("confirm", id=held.id),
        another=another,
    )


@for_members
def confirm(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Book the held time (a second tap says it is booked, once); if it was taken meanwhile, the nearest ones."""
    booking_id = whole(params.get("id"))
    try:
        with ctx.uow.session.begin_nested():
            result = reservations.confirm(
                uow=ctx.uow, booking_id=booking_id, customer_id=customer.id, zone=ctx.settings.zone
            )
    except NotFound:
        raise Refused("not_found") from None
    except (SlotTaken, BookingClosed, TooLateToChange) as error:
        held = reservations.get_booking(uow=ctx.uow, booking_id=booking_id)
        store = ctx.uow.session.get(Store, held.store_id)
        replaced = reservations.get_booking(uow=ctx.uow, booking_id=held.replaces_id) if held.replaces_id else None
        if isinstance(error, TooLateToChange):
            raise Refused("too_late", store) from None
        if isinstance(error, BookingClosed):  # given up for another time, run out and past, or the old one closed
            gone = replaced is not None and replaced.status != "booked"
            raise Refused("not_changeable" if gone else "hold_ended", store) from None
        menu = ctx.uow.session.get(BookingMenu, held.menu_id)
        _offer_nearest(ctx, store, menu, rules_of(ctx, store), held.starts_at, change=replaced, note="taken")
        return
    booking = result.booking
    if result.created and ctx.services is not None:  # its reminders, decided right after the commit
        flow_events.booking_changed(ctx.services, ctx.uow, customer.id)
    ctx.reply("booking_done", **shown(ctx, booking), created=result.created, changed=booking.replaces_id is not None)
