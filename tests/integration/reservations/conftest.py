"""A salon with two stylists (cuts), a consultation with its own single place, and tables for four."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crm_core import customers, reservations
from crm_core.models import BookingMenu, Store

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """An instant given in Tokyo time (November 2026 unless told)."""
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO)


@dataclass
class Salon:
    uow_factory: object
    store_id: int
    hanako: int
    taro: int
    crowd: list[int]

    def store(self, uow) -> Store:
        return uow.session.get(Store, self.store_id)

    def menu(self, uow, code: str) -> BookingMenu:
        return reservations.get_menu(uow=uow, store_id=self.store_id, code=code)

    def hold(self, customer_id: int, code: str, starts_at: datetime, **kw):
        with self.uow_factory() as uow:
            booking = reservations.hold(
                uow=uow,
                customer_id=customer_id,
                store=self.store(uow),
                menu=self.menu(uow, code),
                starts_at=starts_at,
                zone=TOKYO,
                **kw,
            )
            uow.commit()
            return booking

    def confirm(self, customer_id: int, booking_id: int):
        with self.uow_factory() as uow:
            result = reservations.confirm(uow=uow, booking_id=booking_id, customer_id=customer_id, zone=TOKYO)
            uow.commit()
            return result

    def book(self, customer_id: int, code: str, starts_at: datetime, source: str = "api", **kw):
        with self.uow_factory() as uow:
            result = reservations.book(
                uow=uow,
                customer_id=customer_id,
                store=self.store(uow),
                menu=self.menu(uow, code),
                starts_at=starts_at,
                zone=TOKYO,
                source=source,
                **kw,
            )
            uow.commit()
            return result

    def free(self, code: str, day, **kw) -> dict[datetime, int]:
        with self.uow_factory() as uow:
            store = self.store(uow)
            rules = reservations.rules_for(uow=uow, store=store, zone=TOKYO)
            slots = reservations.free_slots(uow=uow, rules=rules, menu=self.menu(uow, code), day=day, **kw)
            return {slot.starts_at: slot.free for slot in slots}


@pytest.fixture
def salon(uow_factory) -> Salon:
    with uow_factory() as uow:
        store = Store(code="SALON", name="表参道サロン", created_at=uow.now())
        uow.session.add(store)
        uow.session.flush()
        reservations.upsert_resource(uow=uow, store_id=store.id, code="aoi", name="あおい")
        reservations.upsert_resource(uow=uow, store_id=store.id, code="ren", name="れん")
        reservations.upsert_menu(
            uow=uow,
            store_id=store.id,
            code="cut",
            name="カット",
            duration_minutes=60,
            price=5500,
            resource_codes=["aoi", "ren"],
        )
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="consult", name="相談", duration_minutes=30, price=0, capacity=1
        )
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="table", name="ランチ", duration_minutes=90, price=3000, capacity=4
        )
        hanako = customers.create_customer(uow=uow, name="山田 花子")
        taro = customers.create_customer(uow=uow, name="佐藤 太郎")
        crowd = [customers.create_customer(uow=uow, name=f"客{n}").id for n in range(50)]
        uow.commit()
        return Salon(uow_factory, store.id, hanako.id, taro.id, crowd)
