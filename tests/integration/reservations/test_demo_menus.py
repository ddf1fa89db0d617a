"""The demo shop takes bookings: every demo store offers a coffee shop's menus with free times to book."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from crm_core import customers, demo, reservations
from crm_core.errors import SlotTaken
from crm_core.models import Store
from tests.integration.reservations.conftest import TOKYO


def test_each_demo_store_has_bookable_menus_with_free_times_tomorrow(uow_factory):
    with uow_factory() as uow:
        added = demo.seed(uow=uow, zone=TOKYO)
        uow.commit()
    assert added["menus"] == 8
    with uow_factory() as uow:
        stores = reservations.bookable_stores(uow=uow)
        assert [store.code for store in stores] == ["SHIBUYA", "YOKOHAMA"]
        tomorrow = uow.now().astimezone(TOKYO).date() + timedelta(days=1)
        for store in stores:
            rules = reservations.rules_for(uow=uow, store=store, zone=TOKYO)
            menus = reservations.list_menus(uow=uow, store_id=store.id)
            assert [menu.code for menu in menus] == ["drip", "cupping", "roasting", "table"]
            capacities = [reservations.menu_capacity(uow=uow, menu_id=menu.id) for menu in menus]
            assert capacities == [4, 4, 1, 3]
            for menu in menus:
                slots = reservations.free_slots(uow=uow, rules=rules, menu=menu, day=tomorrow)
                assert slots and slots[0].starts_at.astimezone(TOKYO).hour == 10, menu.code


def _at(uow, store: Store, code: str, hour: int):
    """The menu and its start time at `hour` tomorrow, in the store."""
    menu = reservations.get_menu(uow=uow, store_id=store.id, code=code)
    rules = reservations.rules_for(uow=uow, store=store, zone=TOKYO)
    tomorrow = uow.now().astimezone(TOKYO).date() + timedelta(days=1)
    return menu, next(m for m in reservations.grid(rules, menu, tomorrow) if m.astimezone(TOKYO).hour == hour)


def test_the_roaster_is_one_place_and_the_lessons_share_the_counter(uow_factory):
    with uow_factory() as uow:
        demo.seed(uow=uow, zone=TOKYO)
        hanako = customers.create_customer(uow=uow, name="山田 花子").id
        taro = customers.create_customer(uow=uow, name="佐藤 太郎").id
        uow.commit()

    def book(customer_id: int, code: str, hour: int):
        with uow_factory() as uow:
            store = uow.session.exec(select(Store).where(Store.code == "SHIBUYA")).one()
            menu, moment = _at(uow, store, code, hour)
            result = reservations.book(
                uow=uow, customer_id=customer_id, store=store, menu=menu, starts_at=moment, zone=TOKYO, source="api"
            )
            uow.commit()
            return result

    assert book(hanako, "roasting", 14).created
    with pytest.raises(SlotTaken):
        book(taro, "roasting", 14)
    book(hanako, "drip", 11)
    book(taro, "drip", 11)
    book(hanako, "cupping", 11)
    with uow_factory() as uow:
        store = uow.session.exec(select(Store).where(Store.code == "SHIBUYA")).one()
        cupping, eleven = _at(uow, store, "cupping", 11)
        rules = reservations.rules_for(uow=uow, store=store, zone=TOKYO)
        free = {
            s.starts_at: s.free
            for s in reservations.free_slots(uow=uow, rules=rules, menu=cupping, day=eleven.astimezone(TOKYO).date())
        }
        assert free[eleven] == 1, "three of the counter's four seats are taken at 11:00"
        assert free[eleven + timedelta(hours=1)] == 4, "the lessons end at 12:00"
