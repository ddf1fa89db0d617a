"""Shop-wide settings kept in the database (the console edits them; the demo seeds them)."""

from __future__ import annotations

from dataclasses import dataclass

from crm_core.models import ShopSetting
from crm_core.uow import UnitOfWork

PRIVACY_NOTICE_VERSION = "2026-11"


@dataclass(frozen=True)
class ShopProfile:
    name: str
    privacy_contact: str
    notice_version: str = PRIVACY_NOTICE_VERSION


DEFAULTS = {"shop.name": "Kizuna", "shop.privacy_contact": "privacy@example.com"}


def get_setting(*, uow: UnitOfWork, key: str):
    row = uow.session.get(ShopSetting, key)
    return row.value if row is not None else DEFAULTS.get(key)


def set_setting(*, uow: UnitOfWork, key: str, value) -> None:
    row = uow.session.get(ShopSetting, key)
    if row is None:
        uow.session.add(ShopSetting(key=key, value=value))
    else:
        row.value = value


def get_profile(*, uow: UnitOfWork) -> ShopProfile:
    return ShopProfile(
        name=get_setting(uow=uow, key="shop.name"),
        privacy_contact=get_setting(uow=uow, key="shop.privacy_contact"),
    )
