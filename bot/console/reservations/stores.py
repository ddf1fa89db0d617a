"""Which store the reservations pages show, and its time zone and business days."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import request, session

from bot import i18n
from bot.console.session import current_user, kizuna, safe_next
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import reservations, stores
from crm_core.errors import KizunaError
from crm_core.models import Store
from crm_core.uow import UnitOfWork

SESSION_KEY = "reservations_store"


def shop_zone() -> ZoneInfo:
    return kizuna().settings.zone


def zone_of(uow: UnitOfWork, store: Store) -> ZoneInfo:
    """The store's time zone for bookings (its own setting, else the shop's)."""
    return reservations.zone_of(reservations.get_settings(uow=uow, store_id=store.id), shop_zone())


def choose(uow: UnitOfWork, code: str | None = None) -> tuple[Store | None, list[Store]]:
    """The store asked for (`?store=`), else the one chosen before, the staff member's home store, the first
    one taking bookings, or the first open one; and the open stores to choose from."""
    open_stores = stores.list_stores(uow=uow, include_closed=False)
    by_code = {store.code: store for store in open_stores}
    asked = stores.get_store_by_code(uow=uow, code=code) if code else None
    if asked is not None:
        session[SESSION_KEY] = asked.code
        return asked, open_stores
    remembered = by_code.get(session.get(SESSION_KEY) or "")
    if remembered is not None:
        return remembered, open_stores
    home_id = current_user().home_store_id
    home = next((store for store in open_stores if store.id == home_id), None)
    if home is not None:
        return home, open_stores
    bookable = reservations.bookable_stores(uow=uow)
    if bookable:
        return bookable[0], open_stores
    return (open_stores[0] if open_stores else None), open_stores


def parse_day(text: str | None, default: date) -> date:
    """A YYYY-MM-DD day from the query, or `default` for anything else."""
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return default


def today(zone: ZoneInfo) -> date:
    return kizuna().uow_factory.clock.now().astimezone(zone).date()


def message(error: KizunaError) -> str:
    """The domain error in the page's language."""
    return _(error.message, **error.params)


def clock_text(value: datetime, zone: ZoneInfo) -> str:
    return i18n.format_clock(value, current_locale(), zone)


def day_text(value: date | datetime, zone: ZoneInfo | None = None) -> str:
    return i18n.format_day(value, current_locale(), zone)


def moment_text(value: datetime, zone: ZoneInfo) -> str:
    return i18n.format_moment(value, current_locale(), zone)


def back_to(default: str) -> str:
    """Where a form goes back to: its same-site `back` field, or `default`."""
    return safe_next(request.values.get("back")) or default
