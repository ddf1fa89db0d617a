"""Booking reminders through the push engine: decided ahead as outbox rows that wait for their time,
transactional (no consent, opt-out, cap or hold-out), never for a blocked customer or a cancelled booking."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlmodel import select

from crm_core import automations, outbox, reservations
from crm_core.models import Booking, ChannelIdentity, OutboxMessage, Store
from tests.shop import TOKYO, Shop


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def shop(services, clock) -> Shop:
    shop = Shop(services, clock)
    with shop.uow_factory() as uow:
        reservations.upsert_menu(
            uow=uow, store_id=shop.store_id, code="cut", name="カット", duration_minutes=60, price=5500, capacity=3
        )
        uow.commit()
    return shop


def _book(shop: Shop, customer_id: int, starts_at: datetime) -> int:
    with shop.uow_factory() as uow:
        store = uow.session.get(Store, shop.store_id)
        menu = reservations.get_menu(uow=uow, store_id=shop.store_id, code="cut")
        result = reservations.book(
            uow=uow, customer_id=customer_id, store=store, menu=menu, starts_at=starts_at, zone=TOKYO, source="api"
        )
        uow.commit()
        return result.booking.id


def _rows(shop: Shop) -> list[OutboxMessage]:
    with shop.uow_factory() as uow:
        return list(uow.session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_both_reminders_are_queued_for_their_time_even_without_consent_or_with_offers_stopped(shop):
    quiet = shop.customer("鈴木 一郎", consented=False, opt_out=True)
    booking_id = _book(shop, quiet, jst(24, 15))  # the clock: Sunday 22nd, 12:00
    report = shop.run()
    assert report.decided == {"booking_reminder": {"send": 2}}
    rows = _rows(shop)
    assert [(row.category, row.not_before) for row in rows] == [
        ("transactional", jst(23, 18)),
        ("transactional", jst(24, 13)),
    ]
    assert {row.dedupe_key for row in rows} == {
        reservations.reminder_key(quiet, booking_id, "eve"),
        reservations.reminder_key(quiet, booking_id, "soon"),
    }
    assert shop.run().decided == {}  # nothing twice
    with shop.uow_factory() as uow:
        assert outbox.due(uow=uow) == []  # waiting for their time


def test_the_reminder_names_the_booking_in_the_customers_language(shop):
    english = shop.customer("Ann Smith", language="en")
    _book(shop, english, jst(24, 15, 30))
    shop.run()
    with shop.uow_factory() as uow:
        rows = list(uow.session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))
        texts = [json.dumps(outbox.contents(uow=uow, rows=[row])[row.id], ensure_ascii=False) for row in rows]
    assert "Tue, Nov 24, 2026 3:30\u202fPM" in texts[0]
    assert "Ann Smith, this is a reminder of your booking tomorrow" in texts[0]
    assert "starts soon" in texts[1]


def test_a_blocked_customer_waits_until_the_reminders_time_and_the_weekly_cap_does_not_apply(shop, clock):
    blocked = shop.customer("田中 次郎", blocked=True)
    busy = shop.customer("高橋 三郎")
    with shop.uow_factory() as uow:
        automations.set_weekly_cap(uow, 0)  # no marketing at all this week
        uow.commit()
    _book(shop, blocked, jst(24, 15))
    _book(shop, busy, jst(24, 16))
    shop.run()
    assert shop.outcomes("booking_reminder") == {busy: ("send", None)}  # the blocked one: not decided yet
    clock.set(jst(23, 18))  # the evening reminder's time, still blocked: skipped for good
    shop.run()
    assert shop.outcomes("booking_reminder")[blocked] == ("skipped", "blocked")


def test_a_customer_who_follows_after_booking_by_phone_still_gets_the_reminders(shop, clock):
    caller = shop.customer("電話 予約", line=False)
    _book(shop, caller, jst(24, 15))
    shop.run()
    assert shop.outcomes("booking_reminder") == {}
    with shop.uow_factory() as uow:  # the next day they add the shop on LINE and link their membership
        uow.session.add(
            ChannelIdentity(
                channel="line",
                address="U" + "c" * 32,
                customer_id=caller,
                followed=True,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        uow.commit()
    clock.set(jst(23, 9))
    shop.run()
    assert shop.outcomes("booking_reminder") == {caller: ("send", None)}


def test_a_booking_cancelled_after_its_reminder_was_decided_is_not_reminded(shop, clock):
    customer = shop.customer()
    booking_id = _book(shop, customer, jst(24, 15))
    shop.run()
    with shop.uow_factory() as uow:
        reservations.cancel(uow=uow, booking_id=booking_id, customer_id=customer, zone=TOKYO)
        uow.commit()
    clock.set(jst(24, 14))
    assert {row.status for row in _rows(shop)} == {"cancelled"}
    with shop.uow_factory() as uow:
        assert outbox.due(uow=uow) == []


def test_a_booking_made_late_gets_only_the_reminders_still_ahead(shop, clock):
    customer = shop.customer()
    _book(shop, customer, jst(23, 10))  # tomorrow 10:00: 18:00 today is still ahead, 08:00 tomorrow too
    clock.set(jst(22, 19))
    late = shop.customer("後藤 四郎")
    _book(shop, late, jst(23, 11))  # booked after 18:00 the day before: only the two-hour one
    shop.run()
    by_customer = {}
    for row in _rows(shop):
        by_customer.setdefault(row.customer_id, []).append(row.dedupe_key.rsplit(":", 1)[1])
    # the first's evening reminder, decided late (the scheduler was down at 18:00), still goes that evening
    assert by_customer == {customer: ["eve", "soon"], late: ["soon"]}


def test_reminders_far_ahead_wait_to_be_decided(shop):
    customer = shop.customer()
    _book(shop, customer, datetime.combine(date(2026, 12, 20), datetime.min.time().replace(hour=11), tzinfo=TOKYO))
    assert shop.run().decided == {}


def test_switched_off_it_sends_nothing_and_it_has_no_hold_out(shop):
    customer = shop.customer()
    _book(shop, customer, jst(24, 15))
    with shop.uow_factory() as uow:
        assert automations.get_automation(uow=uow, key="booking_reminder").enabled
        with pytest.raises(Exception, match="no hold-out"):
            automations.update_automation(uow=uow, key="booking_reminder", holdout_percent=10)
    with shop.uow_factory() as uow:
        automations.update_automation(uow=uow, key="booking_reminder", enabled=False)
        uow.commit()
    assert shop.run().decided == {}


def test_a_reminder_whose_booking_changed_after_it_was_decided_is_refused_at_delivery(shop, clock, line):
    address = line.add_user("山田 花子")
    customer = shop.customer(address=address)
    booking_id = _book(shop, customer, jst(24, 15))
    shop.run()
    with shop.uow_factory() as uow:  # cancelled by a path that did not see the rows (decided at the same moment)
        uow.session.get(Booking, booking_id).status = "cancelled"
        uow.commit()
    for moment in (jst(23, 18, 1), jst(24, 13, 1)):  # each reminder's time
        clock.set(moment)
        shop.services.delivery.deliver_due()
    rows = _rows(shop)
    assert [(row.status, row.last_error) for row in rows] == [("cancelled", "booking_cancelled")] * 2
    assert line.messages_to(address) == []


def test_marking_a_booking_arrived_cancels_its_starts_soon_reminder(shop, clock, line):
    address = line.add_user("山田 花子")
    customer = shop.customer(address=address)
    booking_id = _book(shop, customer, jst(23, 15))
    shop.run()
    clock.set(jst(22, 18, 1))
    shop.services.delivery.deliver_due()  # the evening reminder goes
    clock.set(jst(23, 12, 30))  # they came early; the two-hours-before reminder would go at 13:00
    with shop.uow_factory() as uow:
        reservations.mark(uow=uow, booking_id=booking_id, status="arrived", zone=TOKYO)
        uow.commit()
    statuses = {row.dedupe_key.rsplit(":", 1)[1]: row.status for row in _rows(shop)}
    assert statuses == {"eve": "sent", "soon": "cancelled"}
