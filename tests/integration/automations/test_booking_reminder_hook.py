"""A booking's reminders are in the push engine's queue as soon as the booking is committed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from bot import flow_events
from crm_core import reservations
from crm_core.models import OutboxMessage, Store
from tests.shop import TOKYO, Shop


def test_a_committed_booking_has_its_reminders_queued_at_once(services, clock, settle):
    shop = Shop(services, clock)
    customer = shop.customer()
    with shop.uow_factory() as uow:
        menu = reservations.upsert_menu(
            uow=uow, store_id=shop.store_id, code="cut", name="カット", duration_minutes=60, capacity=1
        )
        result = reservations.book(
            uow=uow,
            customer_id=customer,
            store=uow.session.get(Store, shop.store_id),
            menu=menu,
            starts_at=datetime(2026, 11, 24, 15, 0, tzinfo=TOKYO),
            zone=TOKYO,
            source="console",
        )
        flow_events.booking_changed(services, uow, customer)
        uow.commit()
    settle()
    with shop.uow_factory() as uow:
        keys = uow.session.exec(select(OutboxMessage.dedupe_key).order_by(OutboxMessage.id)).all()
    booking_id = result.booking.id
    assert keys == [
        reservations.reminder_key(customer, booking_id, "eve"),
        reservations.reminder_key(customer, booking_id, "soon"),
    ]
