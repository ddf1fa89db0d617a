"""A booking's places: one place of a resource for each 5-minute unit it spans (BookingClaim).

All of a booking's places are taken in one savepoint or none; the claims' key (resource, unit, place)
with places 1..capacity is what makes overbooking impossible whatever runs at once. A hold's places
carry an expiry after which another booking takes them over with a conditional UPDATE.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import select

from crm_core.db import upsert_insert
from crm_core.errors import SlotTaken
from crm_core.models import Booking, BookingClaim, BookingResource
from crm_core.reservations.availability import UNIT, places_taken
from crm_core.reservations.setup import menu_resources
from crm_core.uow import UnitOfWork


def units_of(starts_at: datetime, ends_at: datetime) -> list[datetime]:
    count = int((ends_at - starts_at) / UNIT)
    return [starts_at + UNIT * n for n in range(count)]


def _claim(
    uow: UnitOfWork,
    booking: Booking,
    resource: BookingResource,
    expires_at: datetime | None,
    *,
    lent_by: int | None,
    take_over: bool,
) -> bool:
    """Take a place of `resource` in every unit of `booking` (the caller holds a savepoint); False when one is full.

    Places the booking already has are kept (a hold being confirmed); places of booking `lent_by`
    (the booking this one replaces) count as this one's: skipped while holding, taken over when
    `take_over`.
    """
    session, now = uow.session, uow.now()
    units = units_of(booking.starts_at, booking.ends_at)
    rows = session.exec(
        select(BookingClaim).where(
            BookingClaim.resource_id == resource.id,
            BookingClaim.starts_at >= units[0],
            BookingClaim.starts_at <= units[-1],
        )
    ).all()
    by_unit: dict[datetime, dict[int, BookingClaim]] = defaultdict(dict)
    for row in rows:
        by_unit[row.starts_at][row.place] = row
    dialect = session.get_bind().dialect.name
    for unit in units:
        places = by_unit.get(unit, {})
        if any(row.booking_id in (booking.id, lent_by) for row in places.values()):
            continue  # already this booking's (or the replaced one's): settled below
        for place in range(1, resource.capacity + 1):
            row = places.get(place)
            if row is None:
                inserted = session.execute(
                    upsert_insert(dialect, BookingClaim.__table__)
                    .values(
                        resource_id=resource.id,
                        starts_at=unit,
                        place=place,
                        booking_id=booking.id,
                        expires_at=expires_at,
                    )
                    .on_conflict_do_nothing()
                    .returning(BookingClaim.__table__.c.place)  # (rowcount is -1 here on psycopg)
                ).first()
                if inserted is not None:
                    break
            elif row.expires_at is not None and row.expires_at <= now:  # a hold that ran out
                taken = session.execute(
                    update(BookingClaim)
                    .where(
                        BookingClaim.resource_id == resource.id,
                        BookingClaim.starts_at == unit,
                        BookingClaim.place == place,
                        BookingClaim.expires_at <= now,
                    )
                    .values(booking_id=booking.id, expires_at=expires_at)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:
                    break
        else:
            return False  # mutation-equivalent: None is as false to the caller
    mine = [booking.id, lent_by] if take_over and lent_by is not None else [booking.id]
    # re-assert the places this booking had when read (a lapsed hold's may have been taken over since: the
    # UPDATE skips those) and lock them; then every unit must be this booking's, or lent by the one it replaces
    kept = session.execute(
        update(BookingClaim)
        .where(
            BookingClaim.resource_id == resource.id,
            BookingClaim.booking_id.in_(mine),
            BookingClaim.starts_at >= units[0],
            BookingClaim.starts_at <= units[-1],
        )
        .values(booking_id=booking.id, expires_at=expires_at)
        .returning(BookingClaim.__table__.c.starts_at)
        .execution_options(synchronize_session=False)
    ).scalars()
    covered = set(kept)
    # mutation-equivalent: (and -> or, == -> !=) a change's hold has no earlier places of its own that a race could
    # take: its units are the ones it just inserted (in `kept`) or the replaced booking's (added here)
    if lent_by is not None and not take_over:
        covered |= {unit for unit, places in by_unit.items() if any(r.booking_id == lent_by for r in places.values())}
    return covered.issuperset(units)


def take(
    uow: UnitOfWork,
    booking: Booking,
    expires_at: datetime | None,
    *,
    lent_by: int | None = None,
    take_over: bool = False,
) -> None:
    """Give `booking` places in one of its menu's resources; SlotTaken when none has them.

    A hold being confirmed or a booking being moved keeps its own resource first. The others are
    tried those that look free first (one read of what is taken then): on a busy day a new booking
    finds the first free stylist in one try, not after trying every full one in turn.
    """
    resources = menu_resources(uow=uow, menu_id=booking.menu_id)
    taken = places_taken(uow, [r.id for r in resources], booking.starts_at, booking.ends_at, uow.now())
    units = len(units_of(booking.starts_at, booking.ends_at))

    def full(resource: BookingResource) -> bool:
        # mutation-equivalent: full() only orders the tries (every resource is still tried, each under the
        # claims' key): a wrong answer costs a failed savepoint, not a wrong booking
        counts = taken.get((resource.id, 0))
        # mutation-equivalent: as above
        return counts is not None and max(counts[:units]) >= resource.capacity

    # mutation-equivalent: `is not` -> `is` (a new booking would try _new's first guess first: an order only)
    keep_own = take_over or lent_by is not None  # otherwise resource_id is only _new's first guess
    resources.sort(key=lambda resource: (keep_own and resource.id != booking.resource_id, full(resource)))
    for resource in resources:
        with uow.session.begin_nested() as savepoint:
            if _claim(uow, booking, resource, expires_at, lent_by=lent_by, take_over=take_over):
                booking.resource_id = resource.id
                uow.session.execute(  # places it had elsewhere (a hold confirmed in another resource)
                    delete(BookingClaim).where(
                        BookingClaim.booking_id == booking.id, BookingClaim.resource_id != resource.id
                    )
                )
                return
            savepoint.rollback()
    raise SlotTaken()


def free(uow: UnitOfWork, booking_id: int) -> None:
    uow.session.execute(delete(BookingClaim).where(BookingClaim.booking_id == booking_id))
