"""What a store offers for booking: its booking settings, its resources (stylists, rooms, seats) and menus."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_
from sqlmodel import select

from crm_core.errors import N_, InvalidInput, NotFound
from crm_core.models import (
    BookingClaim,
    BookingMenu,
    BookingMenuResource,
    BookingResource,
    ReservationSettings,
    Store,
)
from crm_core.uow import UnitOfWork

UNIT_MINUTES = 5  # bookings and durations are counted in units of 5 minutes
# the settings' ranges, as the table's CHECKs have them: (least, most)
LIMITS = {
    "slot_minutes": (5, 240),
    "horizon_days": (1, 365),
    "min_notice_minutes": (0, 10080),
    "cancel_deadline_minutes": (0, 10080),
    "hold_minutes": (1, 30),
}
LIMIT_MESSAGES = {
    "slot_minutes": N_("The time between start times must be 5 to 240 minutes, in steps of 5."),
    "horizon_days": N_("Booking ahead must be 1 to 365 days."),
    "min_notice_minutes": N_("The notice before a booking must be 0 to 10080 minutes (a week)."),
    "cancel_deadline_minutes": N_("The cancellation deadline must be 0 to 10080 minutes (a week)."),
    "hold_minutes": N_("A chosen time is held 1 to 30 minutes."),
}
MAX_DURATION = 720
MAX_CAPACITY = 1000
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def get_settings(*, uow: UnitOfWork, store_id: int) -> ReservationSettings:
    """The store's booking settings (the defaults, unsaved, until changed)."""
    found = uow.session.get(ReservationSettings, store_id)
    return found if found is not None else ReservationSettings(store_id=store_id)


def zone_of(settings: ReservationSettings, default: ZoneInfo) -> ZoneInfo:
    """The store's time zone for bookings: its own, or the shop's."""
    return ZoneInfo(settings.time_zone) if settings.time_zone else default


def _whole(field: str, value) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    least, most = LIMITS[field]
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise InvalidInput(LIMIT_MESSAGES[field], field=field)
    if field == "slot_minutes" and value % UNIT_MINUTES:
        raise InvalidInput(LIMIT_MESSAGES[field], field=field)
    return value


def check_zone(name: str | None) -> str | None:
    name = (name or "").strip()
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            N_("%(value)s is not a time zone (like Asia/Tokyo)."), value=name[:64], field="time_zone"
        ) from None
    return name


def update_settings(*, uow: UnitOfWork, store_id: int, **values) -> ReservationSettings:
    """Change the given settings (`time_zone`, `slot_minutes`, ...); InvalidInput's `field` names a refused one."""
    unknown = set(values) - set(LIMITS) - {"time_zone"}
    if unknown:
        raise ValueError(f"unknown reservation settings: {sorted(unknown)}")
    cleaned = {name: _whole(name, value) for name, value in values.items() if name != "time_zone"}
    if "time_zone" in values:
        cleaned["time_zone"] = check_zone(values["time_zone"])
    settings = uow.session.get(ReservationSettings, store_id)
    if settings is None:
        settings = ReservationSettings(store_id=store_id)
        uow.session.add(settings)
    for name, value in cleaned.items():
        setattr(settings, name, value)
    settings.updated_at = uow.now()
    uow.session.flush()
    return settings


def new_feed_address(*, uow: UnitOfWork, store_id: int) -> ReservationSettings:
    """End the store's calendar feed address: the next one is signed with a new version."""
    settings = update_settings(uow=uow, store_id=store_id)
    settings.feed_version += 1
    uow.session.flush()
    return settings


def check_code(code, *, field: str = "code") -> str:
    text = unicodedata.normalize("NFKC", code or "").strip().lower() if isinstance(code, str) else ""
    if not _CODE.match(text):
        raise InvalidInput(
            N_("A code has 1 to 40 letters, digits, - or _ (like cut or room-1)."), field=field, value=str(code)[:40]
        )
    return text


def _name(name, *, field: str = "name", most: int = 100) -> str:
    text = " ".join(name.split()) if isinstance(name, str) else ""
    if not text:
        raise InvalidInput(N_("A name is needed."), field=field)
    if len(text) > most:
        raise InvalidInput(N_("A name has at most %(count)s characters."), count=most, field=field)
    return text


def _number(value, *, field: str, least: int, most: int, message: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise InvalidInput(message, field=field)
    return value


def _check_lowered(uow: UnitOfWork, resource: BookingResource, capacity: int, field: str) -> None:
    """Refuse fewer places than bookings still ahead hold: places are numbered 1..capacity, so a kept
    place above the new capacity would let the freed lower ones be booked on top of it."""
    if resource.id is None or capacity >= resource.capacity:
        return
    now = uow.now()
    highest = uow.session.exec(
        select(func.max(BookingClaim.place)).where(
            BookingClaim.resource_id == resource.id,
            BookingClaim.starts_at >= now - timedelta(minutes=MAX_DURATION),
            or_(BookingClaim.expires_at.is_(None), BookingClaim.expires_at > now),
        )
    ).one()
    if highest is not None and highest > capacity:
        raise InvalidInput(
            N_("Bookings still ahead use %(count)s places at the same time. Move or cancel some of them first."),
            count=highest,
            field=field,
        )


def upsert_resource(
    *, uow: UnitOfWork, store_id: int, code: str, name: str, capacity: int = 1, active: bool = True
) -> BookingResource:
    """Create or update a store's resource by code (a stylist, a room: capacity 1; seats: several)."""
    code = check_code(code)
    name = _name(name)
    capacity = _number(
        capacity,
        field="capacity",
        least=1,
        most=MAX_CAPACITY,
        message=N_("Places at the same time must be 1 to 1000."),
    )
    resource = uow.session.exec(
        select(BookingResource).where(BookingResource.store_id == store_id, BookingResource.code == code)
    ).first()
    if resource is None:
        resource = BookingResource(store_id=store_id, code=code, created_at=uow.now())
        uow.session.add(resource)
    elif resource.menu_id is not None:
        raise InvalidInput(N_("The code %(value)s belongs to a menu's own places."), value=code, field="code")
    _check_lowered(uow, resource, capacity, "capacity")
    resource.name, resource.capacity, resource.active = name, capacity, bool(active)
    uow.session.flush()
    return resource


def list_resources(*, uow: UnitOfWork, store_id: int, shared_only: bool = True) -> list[BookingResource]:
    """The store's resources by code; without the menus' private ones when `shared_only`."""
    query = select(BookingResource).where(BookingResource.store_id == store_id).order_by(BookingResource.code)
    if shared_only:
        query = query.where(BookingResource.menu_id.is_(None))
    return list(uow.session.exec(query))


def upsert_menu(
    *,
    uow: UnitOfWork,
    store_id: int,
    code: str,
    name: str,
    duration_minutes: int,
    price: int = 0,
    capacity: int | None = 1,
    resource_codes: list[str] | None = None,
    description: str | None = None,
    position: int | None = None,
    active: bool = True,
) -> BookingMenu:
    """Create or update a bookable menu by code.

    With `resource_codes` a booking takes one place in any one of those resources (any free stylist);
    without, the menu has places of its own: `capacity` bookings at the same time.
    """
    code = check_code(code)
    name = _name(name)
    duration = _number(
        duration_minutes,
        field="duration_minutes",
        least=UNIT_MINUTES,
        most=MAX_DURATION,
        message=N_("A menu lasts 5 to 720 minutes, in steps of 5."),
    )
    if duration % UNIT_MINUTES:
        raise InvalidInput(N_("A menu lasts 5 to 720 minutes, in steps of 5."), field="duration_minutes")
    price = _number(price, field="price", least=0, most=10_000_000, message=N_("A price is a whole number of yen."))
    description = " ".join((description or "").split()) or None
    if description and len(description) > 300:
        raise InvalidInput(N_("A description has at most 300 characters."), field="description")
    resources = []
    for raw in resource_codes or []:
        resource_code = check_code(raw, field="resources")
        resource = uow.session.exec(
            select(BookingResource).where(
                BookingResource.store_id == store_id,
                BookingResource.code == resource_code,
                BookingResource.menu_id.is_(None),
            )
        ).first()
        if resource is None:
            raise InvalidInput(N_("No resource with the code %(value)s."), value=resource_code, field="resources")
        resources.append(resource)
    if not resources:
        capacity = _number(
            capacity if capacity is not None else 1,
            field="capacity",
            least=1,
            most=MAX_CAPACITY,
            message=N_("Places at the same time must be 1 to 1000."),
        )
    now = uow.now()
    menu = get_menu(uow=uow, store_id=store_id, code=code)
    if menu is None:
        last = uow.session.exec(select(func.max(BookingMenu.position)).where(BookingMenu.store_id == store_id)).one()
        menu = BookingMenu(store_id=store_id, code=code, created_at=now, duration_minutes=duration)
        menu.position = (last or 0) + 1
        uow.session.add(menu)
    menu.name, menu.duration_minutes, menu.price = name, duration, price
    menu.description, menu.active, menu.updated_at = description, bool(active), now
    if position is not None:
        menu.position = int(position)
    uow.session.flush()
    private = uow.session.exec(select(BookingResource).where(BookingResource.menu_id == menu.id)).first()
    links = uow.session.exec(select(BookingMenuResource).where(BookingMenuResource.menu_id == menu.id)).all()
    for link in links:
        uow.session.delete(link)
    uow.session.flush()
    if not resources:
        if private is None:
            private = BookingResource(
                store_id=store_id, code=f"menu-{menu.id}", name=name, menu_id=menu.id, created_at=now
            )
            uow.session.add(private)
        _check_lowered(uow, private, capacity, "capacity")
        private.name, private.capacity, private.active = name, capacity, True
        uow.session.flush()
        resources = [private]
    elif private is not None:
        private.active = False  # its bookings keep their places; new ones take the shared resources
    for resource in resources:
        uow.session.add(BookingMenuResource(menu_id=menu.id, resource_id=resource.id))
    uow.session.flush()
    return menu


def get_menu(*, uow: UnitOfWork, store_id: int, code: str) -> BookingMenu | None:
    try:
        code = check_code(code)
    except InvalidInput:
        return None
    return uow.session.exec(
        select(BookingMenu).where(BookingMenu.store_id == store_id, BookingMenu.code == code)
    ).first()


def check_menu(*, uow: UnitOfWork, store: Store, code: str) -> BookingMenu:
    menu = get_menu(uow=uow, store_id=store.id, code=code)
    if menu is None or not menu.active:
        raise NotFound(N_("No bookable menu %(code)s at %(store)s."), code=str(code)[:40], store=store.name)
    return menu


def list_menus(*, uow: UnitOfWork, store_id: int, include_inactive: bool = False) -> list[BookingMenu]:
    query = select(BookingMenu).where(BookingMenu.store_id == store_id).order_by(BookingMenu.position, BookingMenu.id)
    if not include_inactive:
        query = query.where(BookingMenu.active.is_(True))
    return list(uow.session.exec(query))


def menu_resources(*, uow: UnitOfWork, menu_id: int) -> list[BookingResource]:
    """The active resources a menu may take a place in, by code."""
    return list(
        uow.session.exec(
            select(BookingResource)
            .join(BookingMenuResource, BookingMenuResource.resource_id == BookingResource.id)
            .where(BookingMenuResource.menu_id == menu_id, BookingResource.active.is_(True))
            .order_by(BookingResource.code)
        )
    )


def menu_capacity(*, uow: UnitOfWork, menu_id: int) -> int:
    """Bookings of this menu that may start at the same time (the places of its resources together)."""
    return sum(resource.capacity for resource in menu_resources(uow=uow, menu_id=menu_id))


def bookable_stores(*, uow: UnitOfWork) -> list[Store]:
    """Open stores with at least one active menu, by code."""
    has_menu = select(BookingMenu.store_id).where(BookingMenu.active.is_(True))
    return list(
        uow.session.exec(select(Store).where(Store.active.is_(True), Store.id.in_(has_menu)).order_by(Store.code))
    )
