"""Bookings: hold a time while the customer confirms, book, move, cancel, mark arrived or no-show.

Taking places (see BookingClaim): for each 5-minute unit the booking spans, a free place of one of
the menu's resources, all in one savepoint; the table's key makes two bookings of the last place
impossible whatever runs at once. Every change is on the customer's timeline; the reminders are
decided by the push engine (automation `booking_reminder`) from `remind_eve_at` and `remind_soon_at`,
and a cancelled or moved booking's pending reminders are cancelled in the outbox with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crm_core import customers, hours, timeline
from crm_core.errors import N_, BookingClosed, Conflict, InvalidInput, NotFound, SlotTaken, TooLateToChange
from crm_core.models import Booking, BookingMenu, Store
from crm_core.reservations import places, reminders
from crm_core.reservations.availability import Rules, check_bookable
from crm_core.reservations.setup import get_settings, menu_resources, zone_of
from crm_core.uow import UnitOfWork

SHOWN = ("booked", "cancelled", "arrived", "no_show")  # what the API and the customer's page list
SOURCES = ("line", "console", "api")
MARKS = ("arrived", "no_show", "booked")  # what staff mark a booking (booked: undo a mark)


@dataclass(frozen=True)
class BookingResult:
    booking: Booking
    created: bool


def rules_for(*, uow: UnitOfWork, store: Store, zone: ZoneInfo) -> Rules:
    """The store's hours, booking settings and zone (its own, else `zone`, the shop's) as of now."""
    settings = get_settings(uow=uow, store_id=store.id)
    store_hours = hours.hours_for_store(uow=uow, store=store)
    return Rules(hours=store_hours, settings=settings, zone=zone_of(settings, zone), now=uow.now())


def _record(uow: UnitOfWork, kind: str, booking: Booking, *, staff_user_id: int | None = None, **data) -> None:
    menu = uow.session.get(BookingMenu, booking.menu_id)
    store = uow.session.get(Store, booking.store_id)
    timeline.record(
        uow=uow,
        kind=kind,
        customer_id=booking.customer_id,
        staff_user_id=staff_user_id,
        summary=menu.name,
        data={
            "booking_id": booking.id,
            "store": store.name,
            "menu": menu.name,
            "starts_at": booking.starts_at.isoformat(),
            **data,
        },
    )


# -- making bookings --------------------------------------------------------------------------------


def _new(
    uow: UnitOfWork, *, customer_id: int, store: Store, menu: BookingMenu, starts_at: datetime, status: str, **fields
) -> Booking:
    if menu.store_id != store.id or not menu.active:
        raise NotFound(N_("No bookable menu %(code)s at %(store)s."), code=menu.code, store=store.name)
    resources = menu_resources(uow=uow, menu_id=menu.id)
    if not resources:
        raise SlotTaken()
    now = uow.now()
    booking = Booking(
        store_id=store.id,
        menu_id=menu.id,
        resource_id=resources[0].id,
        customer_id=customer_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=menu.duration_minutes),
        status=status,
        price=menu.price,
        created_at=now,
        updated_at=now,
        **fields,
    )
    uow.session.add(booking)
    uow.session.flush()
    return booking


def release_holds(*, uow: UnitOfWork, customer_id: int, keep: int | None = None) -> int:
    """Give up the customer's holds (but `keep`): their places are free at once."""
    held = uow.session.exec(
        select(Booking).where(Booking.customer_id == customer_id, Booking.status == "held", Booking.id != (keep or 0))
    ).all()
    for booking in held:
        booking.status, booking.hold_expires_at, booking.updated_at = "released", None, uow.now()
        places.free(uow, booking.id)
    return len(held)


def hold(
    *,
    uow: UnitOfWork,
    customer_id: int,
    store: Store,
    menu: BookingMenu,
    starts_at: datetime,
    zone: ZoneInfo,
    replaces_id: int | None = None,
) -> Booking:
    """Keep this time for the customer while they confirm (the store's `hold_minutes`); their other holds go.

    NotBookable when the time cannot be booked, SlotTaken when it is full; with `replaces_id` (a change
    of that booking) that booking's own places count as free.
    """
    customers.check_customer(uow=uow, customer_id=customer_id)
    rules = rules_for(uow=uow, store=store, zone=zone)
    check_bookable(rules, menu, starts_at)
    if replaces_id is not None:
        _changeable(uow, replaces_id, customer_id, rules)
    release_holds(uow=uow, customer_id=customer_id)
    expires = rules.now + timedelta(minutes=rules.settings.hold_minutes)
    with uow.session.begin_nested():  # a refused hold leaves no row behind, whatever the caller commits
        booking = _new(
            uow,
            customer_id=customer_id,
            store=store,
            menu=menu,
            starts_at=starts_at,
            status="held",
            hold_expires_at=expires,
            source="line",
            replaces_id=replaces_id,
        )
        places.take(uow, booking, expires, lent_by=replaces_id)
    return booking


def confirm(*, uow: UnitOfWork, booking_id: int, customer_id: int, zone: ZoneInfo) -> BookingResult:
    """Book the customer's hold (a second tap answers the same booking, created False).

    SlotTaken when the hold ran out and its time was taken meanwhile; BookingClosed when it was given
    up; a hold for a change cancels the booking it replaces.
    """
    booking = _locked(uow, booking_id)
    if booking is None or booking.customer_id != customer_id:
        raise NotFound(N_("This booking was not found."))
    if booking.status in ("booked", "arrived", "no_show"):
        return BookingResult(booking, created=False)
    if booking.status != "held":
        raise BookingClosed()
    store = uow.session.get(Store, booking.store_id)
    rules = rules_for(uow=uow, store=store, zone=zone)
    if booking.starts_at <= rules.now:
        raise BookingClosed()
    if booking.hold_expires_at <= rules.now:  # a lapsed hold: the store's rules as they are now (notice, hours)
        check_bookable(rules, uow.session.get(BookingMenu, booking.menu_id), booking.starts_at)
    old = None
    if booking.replaces_id is not None:
        old = _changeable(uow, booking.replaces_id, customer_id, rules)
    places.take(uow, booking, None, lent_by=booking.replaces_id, take_over=True)
    booking.status, booking.hold_expires_at, booking.updated_at = "booked", None, rules.now
    reminders.set_reminders(booking, rules.zone, rules.now)
    uow.session.flush()
    if old is not None:
        _close(uow, old, "cancelled")
        _record(uow, "booking_moved", booking, moved_from=old.starts_at.isoformat(), by="customer")
    else:
        _record(uow, "booking_made", booking, by="customer")
    return BookingResult(booking, created=True)


def book(
    *,
    uow: UnitOfWork,
    customer_id: int,
    store: Store,
    menu: BookingMenu,
    starts_at: datetime,
    zone: ZoneInfo,
    source: str,
    idempotency_key: str | None = None,
    staff_user_id: int | None = None,
    note: str | None = None,
) -> BookingResult:
    """Book at once (a phone call at the console, the web shop through the API); the same key again answers the
    same booking. Staff (`staff_user_id`) may book any free time from now on, past the customers' notice and
    horizon. NotBookable, SlotTaken (full), Conflict (the key was used for another booking)."""
    if source not in SOURCES:
        raise ValueError(source)
    if idempotency_key is not None:
        found = _by_key(uow, idempotency_key)
        if found is not None:
            return _same(found, customer_id, menu, starts_at)
    customers.check_customer(uow=uow, customer_id=customer_id)
    rules = rules_for(uow=uow, store=store, zone=zone)
    check_bookable(rules, menu, starts_at, by_staff=staff_user_id is not None)
    note = " ".join((note or "").split()) or None
    if note and len(note) > 500:
        raise InvalidInput(N_("A note has at most 500 characters."), field="note")
    try:
        with uow.session.begin_nested():
            booking = _new(
                uow,
                customer_id=customer_id,
                store=store,
                menu=menu,
                starts_at=starts_at,
                status="booked",
                source=source,
                idempotency_key=idempotency_key,
                created_by=staff_user_id,
                note=note,
            )
            places.take(uow, booking, None)
    except IntegrityError:
        found = _by_key(uow, idempotency_key) if idempotency_key is not None else None
        if found is None:
            raise
        return _same(found, customer_id, menu, starts_at)  # the same request, committed meanwhile
    reminders.set_reminders(booking, rules.zone, rules.now)
    uow.session.flush()
    _record(uow, "booking_made", booking, staff_user_id=staff_user_id, by="staff" if staff_user_id else source)
    return BookingResult(booking, created=True)


def _by_key(uow: UnitOfWork, key: str) -> Booking | None:
    return uow.session.exec(select(Booking).where(Booking.idempotency_key == key)).first()


def _same(found: Booking, customer_id: int, menu: BookingMenu, starts_at: datetime) -> BookingResult:
    if (found.customer_id, found.menu_id, found.starts_at) != (customer_id, menu.id, starts_at):
        raise Conflict(N_("This idempotency key was already used for another booking."))
    return BookingResult(found, created=False)


# -- changing bookings ------------------------------------------------------------------------------


def _locked(uow: UnitOfWork, booking_id) -> Booking | None:
    """The booking, locked and read afresh (a caller may have loaded it before another change committed)."""
    if not _is_id(booking_id):
        return None
    query = select(Booking).where(Booking.id == booking_id).with_for_update()
    return uow.session.exec(query.execution_options(populate_existing=True)).first()


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _changeable(uow: UnitOfWork, booking_id: int, customer_id: int, rules: Rules) -> Booking:
    """The customer's booking, if they may still change or cancel it themselves."""
    booking = _locked(uow, booking_id)
    if booking is None or booking.customer_id != customer_id:
        raise NotFound(N_("This booking was not found."))
    if booking.status != "booked":
        raise BookingClosed()
    if rules.now > booking.starts_at - timedelta(minutes=rules.settings.cancel_deadline_minutes):
        raise TooLateToChange()
    return booking


def can_change(*, uow: UnitOfWork, booking: Booking, zone: ZoneInfo) -> bool:
    """Whether the customer may still change or cancel this booking on LINE (booked, before the deadline)."""
    store = uow.session.get(Store, booking.store_id)
    settings = get_settings(uow=uow, store_id=store.id)
    deadline = booking.starts_at - timedelta(minutes=settings.cancel_deadline_minutes)
    return booking.status == "booked" and uow.now() <= deadline


def _close(uow: UnitOfWork, booking: Booking, status: str, staff_user_id: int | None = None) -> None:
    booking.status, booking.updated_at, booking.changed_by = status, uow.now(), staff_user_id
    places.free(uow, booking.id)
    reminders.cancel_reminders(uow, booking)


def cancel(
    *,
    uow: UnitOfWork,
    booking_id: int,
    zone: ZoneInfo,
    customer_id: int | None = None,
    as_staff: bool = False,
    staff_user_id: int | None = None,
) -> BookingResult:
    """Cancel a booking: by its customer (`customer_id`) before the store's deadline, or by staff (`as_staff`,
    the console's `staff_user_id` or the API) at any time before it is marked. A second cancel answers the
    cancelled booking (created False)."""
    booking = _locked(uow, booking_id)
    if booking is None or (customer_id is not None and booking.customer_id != customer_id):
        raise NotFound(N_("This booking was not found."))
    if not as_staff and customer_id is None:
        raise ValueError("a customer's cancel names the customer")
    if booking.status == "cancelled":
        return BookingResult(booking, created=False)
    store = uow.session.get(Store, booking.store_id)
    rules = rules_for(uow=uow, store=store, zone=zone)
    if not as_staff:
        _changeable(uow, booking.id, booking.customer_id, rules)
    elif booking.status != "booked":
        raise BookingClosed()
    _close(uow, booking, "cancelled", staff_user_id)
    _record(uow, "booking_cancelled", booking, staff_user_id=staff_user_id, by="staff" if as_staff else "customer")
    return BookingResult(booking, created=True)


def move(
    *, uow: UnitOfWork, booking_id: int, starts_at: datetime, zone: ZoneInfo, staff_user_id: int | None = None
) -> BookingResult:
    """Staff move a booking to another free time (the same menu): a new booking replaces it, which keeps the
    places the two share; the old one's places are freed only once the new ones are taken."""
    old = _locked(uow, booking_id)
    if old is None:
        raise NotFound(N_("This booking was not found."))
    if old.status != "booked":
        raise BookingClosed()
    if old.starts_at == starts_at:
        return BookingResult(old, created=False)
    store = uow.session.get(Store, old.store_id)
    menu = uow.session.get(BookingMenu, old.menu_id)
    rules = rules_for(uow=uow, store=store, zone=zone)
    check_bookable(rules, menu, starts_at, by_staff=True)
    with uow.session.begin_nested():
        booking = _new(
            uow,
            customer_id=old.customer_id,
            store=store,
            menu=menu,
            starts_at=starts_at,
            status="booked",
            source=old.source,
            replaces_id=old.id,
            created_by=staff_user_id,
            note=old.note,
        )
        booking.resource_id = old.resource_id
        places.take(uow, booking, None, lent_by=old.id, take_over=True)
    reminders.set_reminders(booking, rules.zone, rules.now)
    _close(uow, old, "cancelled", staff_user_id)
    uow.session.flush()
    moved_from = old.starts_at.isoformat()
    _record(uow, "booking_moved", booking, staff_user_id=staff_user_id, moved_from=moved_from, by="staff")
    return BookingResult(booking, created=True)


def mark(*, uow: UnitOfWork, booking_id: int, status: str, zone: ZoneInfo, staff_user_id: int | None = None) -> Booking:
    """Staff mark a booking arrived or no-show (or booked again, to undo a mark), from its business day on."""
    if status not in MARKS:
        raise InvalidInput(N_("A booking is marked arrived or no-show."), field="status")
    booking = _locked(uow, booking_id)
    if booking is None:
        raise NotFound(N_("This booking was not found."))
    if booking.status not in ("booked", "arrived", "no_show"):
        raise BookingClosed()
    if booking.status == status:
        return booking
    store = uow.session.get(Store, booking.store_id)
    rules = rules_for(uow=uow, store=store, zone=zone)
    if rules.now.astimezone(rules.zone).date() < booking.starts_at.astimezone(rules.zone).date():
        raise InvalidInput(N_("A booking can be marked from its day on."), field="status")
    if status == "no_show" and rules.now < booking.starts_at:
        raise InvalidInput(N_("A booking can be marked no-show once its time has come."), field="status")
    booking.status, booking.updated_at, booking.changed_by = status, rules.now, staff_user_id
    if status != "booked":
        reminders.cancel_reminders(uow, booking)  # no "starts soon" for someone already in the store
    kind = {"arrived": "booking_arrived", "no_show": "booking_no_show", "booked": "booking_unmarked"}[status]
    _record(uow, kind, booking, staff_user_id=staff_user_id)
    return booking


# -- reading ----------------------------------------------------------------------------------------


def get_booking(*, uow: UnitOfWork, booking_id) -> Booking | None:
    if not _is_id(booking_id):
        return None
    return uow.session.get(Booking, booking_id)


def list_for_customer(
    *,
    uow: UnitOfWork,
    customer_id: int,
    upcoming: bool = False,
    limit: int = 100,
    before: tuple[datetime, int] | None = None,
) -> list[Booking]:
    """The customer's bookings (not holds): upcoming booked ones soonest first, or all newest first.

    `before` (all, newest first): only those after (start, id) in that order, the next page of a list.
    """
    query = select(Booking).where(Booking.customer_id == customer_id)
    if upcoming:
        query = query.where(Booking.status == "booked", Booking.ends_at > uow.now()).order_by(Booking.starts_at)
    else:
        query = query.where(Booking.status.in_(SHOWN)).order_by(Booking.starts_at.desc(), Booking.id.desc())
        if before is not None:
            at, booking_id = before
            query = query.where(or_(Booking.starts_at < at, and_(Booking.starts_at == at, Booking.id < booking_id)))
    return list(uow.session.exec(query.limit(limit)))


def no_shows(*, uow: UnitOfWork, customer_id: int) -> int:
    return uow.session.exec(
        select(func.count()).where(Booking.customer_id == customer_id, Booking.status == "no_show")
    ).one()


def list_for_store(
    *, uow: UnitOfWork, store_id: int, start: datetime, end: datetime, include_cancelled: bool = False
) -> list[Booking]:
    """The store's bookings starting in [start, end), by start time (and live holds, which take places too)."""
    statuses = list(SHOWN if include_cancelled else ("booked", "arrived", "no_show"))
    query = (
        select(Booking)
        .where(Booking.store_id == store_id, Booking.starts_at >= start, Booking.starts_at < end)
        .where(or_(Booking.status.in_(statuses), (Booking.status == "held") & (Booking.hold_expires_at > uow.now())))
        .order_by(Booking.starts_at, Booking.id)
    )
    return list(uow.session.exec(query))


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a business day runs between in `zone`."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start, end
