"""Shop-wide settings kept in the database (the console edits them; the demo seeds them)."""

from __future__ import annotations

import re
import time
import unicodedata
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import select

from crm_core.errors import N_, InvalidInput
from crm_core.models import ShopSetting, StaffUser, Store
from crm_core.uow import UnitOfWork

PRIVACY_NOTICE_VERSION = "2026-11"
DEFAULT_NAME = "Kizuna"
DEFAULT_PRIVACY_CONTACT = "privacy@example.com"
DEFAULT_QUIET_HOURS = "21:00-09:00"
QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_BASIC_ID = re.compile(r"^@[a-z0-9._-]{2,20}$")
_ADD_FRIEND_URL = re.compile(r"^https://(lin\.ee/[A-Za-z0-9_-]+|line\.me/R/ti/p/[A-Za-z0-9@%._-]+)/?$")
LONGEST = {"name": 100, "privacy_contact": 500, "purpose_of_use": 2000}

DEFAULTS = {
    "shop.name": DEFAULT_NAME,
    "shop.privacy_contact": DEFAULT_PRIVACY_CONTACT,
    "shop.purpose_of_use": None,
    "shop.line_basic_id": None,
    "shop.add_friend_url": None,
    "shop.quiet_hours": DEFAULT_QUIET_HOURS,
    "shop.notice_version": PRIVACY_NOTICE_VERSION,
}
LINE_CHECK_KEY = "line.channel_check"


@dataclass(frozen=True)
class ShopProfile:
    name: str
    privacy_contact: str
    notice_version: str = PRIVACY_NOTICE_VERSION
    purpose_of_use: str | None = None  # the shop's own words, one purpose a line; the standard list when None
    line_basic_id: str | None = None
    add_friend_url: str | None = None
    quiet_hours: str = DEFAULT_QUIET_HOURS

    @property
    def purposes(self) -> list[str]:
        return [line.strip() for line in (self.purpose_of_use or "").splitlines() if line.strip()]


def get_setting(*, uow: UnitOfWork, key: str):
    row = uow.session.get(ShopSetting, key)
    return row.value if row is not None else DEFAULTS.get(key)


def is_set(*, uow: UnitOfWork, key: str) -> bool:
    return uow.session.get(ShopSetting, key) is not None


def set_setting(*, uow: UnitOfWork, key: str, value) -> None:
    row = uow.session.get(ShopSetting, key)
    if row is None:
        uow.session.add(ShopSetting(key=key, value=value))
    else:
        row.value = value


# engine -> (read at, profile): every reply names the shop, and the profile changes a few times a year
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
CACHE_SECONDS = 5.0


def get_profile(*, uow: UnitOfWork) -> ShopProfile:
    """The shop's profile (read at most every 5 s per process; a save here is seen at once)."""
    engine = uow.session.get_bind()
    cached = _CACHE.get(engine)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    profile = _read_profile(uow=uow)
    _CACHE[engine] = (time.monotonic(), profile)
    return profile


def _read_profile(*, uow: UnitOfWork) -> ShopProfile:
    rows = {row.key: row.value for row in uow.session.exec(select(ShopSetting).where(ShopSetting.key.like("shop.%")))}

    def value(key):
        return rows.get(key, DEFAULTS[key])

    return ShopProfile(
        name=value("shop.name"),
        privacy_contact=value("shop.privacy_contact"),
        notice_version=value("shop.notice_version"),
        purpose_of_use=value("shop.purpose_of_use"),
        line_basic_id=value("shop.line_basic_id"),
        add_friend_url=value("shop.add_friend_url"),
        quiet_hours=value("shop.quiet_hours"),
    )


def _text(value: str | None, field: str, *, required: bool) -> str | None:
    text = unicodedata.normalize("NFC", value or "").strip().replace("\r\n", "\n")
    if not text:
        if required:
            raise InvalidInput(N_("This field is required."), field=field)
        return None
    if len(text) > LONGEST[field]:
        raise InvalidInput(N_("At most %(length)d characters."), field=field, length=LONGEST[field])
    return text


def check_quiet_hours(value: str | None) -> str:
    """`HH:MM-HH:MM` in business time (may wrap midnight), or `off`; InvalidInput otherwise."""
    text = unicodedata.normalize("NFKC", value or "").strip().replace("〜", "-").replace("~", "-").replace(" ", "")
    if text.lower() == "off":
        return "off"
    if not QUIET_HOURS.match(text) or text[:5] == text[6:]:
        raise InvalidInput(N_("Write the quiet hours like 21:00-09:00, or off."), field="quiet_hours")
    return text


def update_profile(
    *,
    uow: UnitOfWork,
    name: str,
    privacy_contact: str,
    purpose_of_use: str | None = None,
    line_basic_id: str | None = None,
    add_friend_url: str | None = None,
    quiet_hours: str = DEFAULT_QUIET_HOURS,
    today: str | None = None,
) -> ShopProfile:
    """Check and save the shop's profile; InvalidInput names the first wrong field and nothing is saved.

    A changed purpose of use is a new version of the privacy notice (dated `today`, YYYY-MM-DD), so
    what a customer agreed to can be told apart from what the notice says now.
    """
    values = {
        "shop.name": _text(name, "name", required=True),
        "shop.privacy_contact": _text(privacy_contact, "privacy_contact", required=True),
        "shop.purpose_of_use": _text(purpose_of_use, "purpose_of_use", required=False),
        "shop.line_basic_id": _basic_id(line_basic_id),
        "shop.add_friend_url": _add_friend_url(add_friend_url),
        "shop.quiet_hours": check_quiet_hours(quiet_hours),
    }
    if values["shop.privacy_contact"] == DEFAULT_PRIVACY_CONTACT:
        raise InvalidInput(N_("Give the shop's own contact point for privacy questions."), field="privacy_contact")
    before = _read_profile(uow=uow)
    if values["shop.purpose_of_use"] != before.purpose_of_use and today:
        values["shop.notice_version"] = today
    for key, value in values.items():
        set_setting(uow=uow, key=key, value=value)
    uow.session.flush()
    _CACHE.pop(uow.session.get_bind(), None)
    return _read_profile(uow=uow)


def set_quiet_hours(*, uow: UnitOfWork, quiet_hours: str | None) -> str:
    """Check and save the quiet hours alone (the automations page); InvalidInput when they are malformed."""
    value = check_quiet_hours(quiet_hours)
    set_setting(uow=uow, key="shop.quiet_hours", value=value)
    uow.session.flush()
    _CACHE.pop(uow.session.get_bind(), None)
    return value


def _basic_id(value: str | None) -> str | None:
    text = unicodedata.normalize("NFKC", value or "").strip().lower()
    if not text:
        return None
    text = text if text.startswith("@") else "@" + text
    if not _BASIC_ID.match(text):
        raise InvalidInput(N_("A LINE basic ID looks like @123abcde."), field="line_basic_id")
    return text


def _add_friend_url(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if not _ADD_FRIEND_URL.match(text):
        raise InvalidInput(
            N_("An add-friend link starts with https://lin.ee/ or https://line.me/R/ti/p/."), field="add_friend_url"
        )
    return text


def record_line_check(*, uow: UnitOfWork, ok: bool, at: datetime, bot_name: str | None, basic_id: str | None) -> None:
    """Remember the last verification of the LINE channel (the checklist reads it)."""
    set_setting(
        uow=uow,
        key=LINE_CHECK_KEY,
        value={"ok": ok, "at": at.isoformat(), "bot_name": bot_name, "basic_id": basic_id},
    )


def last_line_check(*, uow: UnitOfWork) -> dict | None:
    return get_setting(uow=uow, key=LINE_CHECK_KEY)


@dataclass(frozen=True)
class ChecklistItem:
    key: str  # shop_name, privacy_contact, store, staff, line
    done: bool


def setup_checklist(*, uow: UnitOfWork) -> list[ChecklistItem]:
    """What a new shop still has to do before it can run: named, privacy contact, a store, staff, LINE checked."""
    stores = uow.session.exec(select(func.count()).select_from(Store).where(Store.active.is_(True))).one()
    staff = uow.session.exec(
        select(func.count())
        .select_from(StaffUser)
        .where(StaffUser.active.is_(True), StaffUser.role.in_(("staff", "marketer")))
    ).one()
    line_check = last_line_check(uow=uow) or {}
    contact_set = get_setting(uow=uow, key="shop.privacy_contact") != DEFAULT_PRIVACY_CONTACT
    return [
        ChecklistItem("shop_name", is_set(uow=uow, key="shop.name")),
        ChecklistItem("privacy_contact", contact_set),
        ChecklistItem("store", stores > 0),
        ChecklistItem("staff", staff > 0),
        ChecklistItem("line", bool(line_check.get("ok"))),
    ]
