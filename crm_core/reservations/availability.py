"""Free start times: a store's grid of start times in its opening hours, less what bookings and holds take.

Times are instants (UTC); the grid is laid in the store's time zone: from each opening, every
`slot_minutes`, as long as the menu ends by the closing. A start time's `free` is the places left
for the menu then: for each of its resources, the fewest free places over the 5-minute units the
menu spans, added up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, func, or_, type_coerce
from sqlmodel import select

from crm_core import hours
from crm_core.errors import N_, NotBookable
from crm_core.models import BookingClaim, BookingMenu, ReservationSettings
from crm_core.reservations.setup import UNIT_MINUTES, menu_resources
from crm_core.uow import UnitOfWork

UNIT = timedelta(minutes=UNIT_MINUTES)


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    free: int  # places left for the menu


@dataclass(frozen=True)
class Rules:
    """What decides whether a time can be booked: the store's hours, settings and zone, and now."""

    hours: hours.BusinessHours
    settings: ReservationSettings
    zone: ZoneInfo
    now: datetime


def local_moment(day: date, minutes: int, zone: ZoneInfo) -> datetime | None:
    """`minutes` after midnight of `day` in `zone` as an instant (UTC); None when the clock skips it (DST)."""
    if minutes >= 24 * 60:
        day, minutes = day + timedelta(days=1), minutes - 24 * 60
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


def grid(rules: Rules, menu: BookingMenu, day: date) -> list[datetime]:
    """The start times of `day` (a business day in the store's zone) for `menu`, booked or not, in order."""
    step, length = rules.settings.slot_minutes, menu.duration_minutes
    starts = []
    for opens, closes in rules.hours.intervals_on(day):
        for minute in range(opens, closes - length + 1, step):
            moment = local_moment(day, minute, rules.zone)
            if moment is not None:
                starts.append(moment)
    return starts


def window(rules: Rules, *, by_staff: bool = False) -> tuple[datetime, date]:
    """The earliest start a booking may have now, and the last business day one may book."""
    today = rules.now.astimezone(rules.zone).date()
    if by_staff:  # staff book what a caller asks for: from now on, any day
        return rules.now, date.max
    earliest = rules.now + timedelta(minutes=rules.settings.min_notice_minutes)
    return earliest, today + timedelta(days=rules.settings.horizon_days)


def check_bookable(rules: Rules, menu: BookingMenu, starts_at: datetime, *, by_staff: bool = False) -> None:
    """NotBookable (`reason`: past, too_soon, too_far, closed, off_grid) unless `starts_at` can be booked now."""
    if starts_at.tzinfo is None:
        raise ValueError("booking times are timezone-aware")
    if starts_at <= rules.now:
        raise NotBookable(N_("This time has already passed."), reason="past")
    earliest, last_day = window(rules, by_staff=by_staff)
    day = starts_at.astimezone(rules.zone).date()
    if starts_at < earliest:
        raise NotBookable(N_("This time is too soon to book. Please choose a later time."), reason="too_soon")
    if day > last_day:
        raise NotBookable(
            N_("Bookings open %(days)s days ahead. Please choose an earlier day."),
            reason="too_far",
            days=rules.settings.horizon_days,
        )
    if not rules.hours.intervals_on(day):
        raise NotBookable(N_("The store is closed that day."), reason="closed")
    if starts_at not in grid(rules, menu, day):
        raise NotBookable(N_("The store does not take this menu at this time."), reason="off_grid")


def places_taken(
    uow: UnitOfWork,
    resource_ids: list[int],
    start: datetime,
    end: datetime,
    now: datetime,
    ignoring: int | None = None,
) -> dict[tuple[int, int], list[int]]:
    """Places taken by bookings and live holds (but booking `ignoring`'s) from `start` to `end`:
    (resource id, phase) -> count per unit.

    A unit's index is its whole 5-minute steps after `start`, its phase the seconds left over (0 unless
    opening hours start off the 5-minute grid). Read without converting each row's time to an aware
    UTC datetime (the column's type would): one subtraction a row is all the counting needs.
    """
    size = int((end - start) / UNIT) + 1
    step = int(UNIT.total_seconds())
    moment = type_coerce(BookingClaim.starts_at, DateTime(timezone=True))
    query = select(BookingClaim.resource_id, moment, func.count()).where(
        BookingClaim.resource_id.in_(resource_ids),
        BookingClaim.starts_at >= start,
        BookingClaim.starts_at < end,
        or_(BookingClaim.expires_at.is_(None), BookingClaim.expires_at > now),
    )
    if ignoring is not None:
        query = query.where(BookingClaim.booking_id != ignoring)
    rows = uow.session.execute(query.group_by(BookingClaim.resource_id, BookingClaim.starts_at))
    naive = start.astimezone(UTC).replace(tzinfo=None)  # SQLite hands back naive UTC
    taken: dict[tuple[int, int], list[int]] = {}
    for resource_id, unit, count in rows:
        index, phase = divmod(int((unit - (start if unit.tzinfo else naive)).total_seconds()), step)
        counts = taken.get((resource_id, phase))
        if counts is None:
            counts = taken[resource_id, phase] = [0] * size
        counts[index] = count
    return taken


def free_slots(
    *,
    uow: UnitOfWork,
    rules: Rules,
    menu: BookingMenu,
    day: date,
    by_staff: bool = False,
    include_full: bool = False,
    ignoring: int | None = None,
) -> list[Slot]:
    """The start times of `day` one may book now for `menu`, with the places left (full ones only when asked).

    A start's places: for each of the menu's resources, its capacity less the most places taken in any
    5-minute unit the menu spans, added up. `ignoring`: a booking being changed, whose places count as free
    (as `hold(replaces_id=...)` counts them).
    """
    earliest, last_day = window(rules, by_staff=by_staff)
    if day > last_day:
        return []
    starts = [moment for moment in grid(rules, menu, day) if moment >= earliest and moment > rules.now]
    resources = menu_resources(uow=uow, menu_id=menu.id)
    if not starts or not resources:
        return []
    length = timedelta(minutes=menu.duration_minutes)
    units = int(length / UNIT)
    step = int(UNIT.total_seconds())
    taken = places_taken(uow, [r.id for r in resources], starts[0], starts[-1] + length, rules.now, ignoring)
    slots = []
    for moment in starts:
        index, phase = divmod(int((moment - starts[0]).total_seconds()), step)
        free = 0
        for resource in resources:
            counts = taken.get((resource.id, phase))
            most = max(counts[index : index + units]) if counts is not None else 0
            free += max(resource.capacity - most, 0)
        if free or include_full:
            slots.append(Slot(moment, free))
    return slots


def nearest_free(
    *,
    uow: UnitOfWork,
    rules: Rules,
    menu: BookingMenu,
    around: datetime,
    count: int = 3,
    days: int = 7,
    ignoring: int | None = None,
) -> list[Slot]:
    """Up to `count` free start times nearest to `around`: the same day first, then the days after."""
    day = around.astimezone(rules.zone).date()
    same_day = free_slots(uow=uow, rules=rules, menu=menu, day=day, ignoring=ignoring)
    if same_day:
        return sorted(same_day, key=lambda slot: (abs(slot.starts_at - around), slot.starts_at))[:count]
    found: list[Slot] = []
    for offset in range(1, days + 1):
        later = day + timedelta(days=offset)
        found.extend(free_slots(uow=uow, rules=rules, menu=menu, day=later, ignoring=ignoring))
        if len(found) >= count:
            break
    return found[:count]
