"""Free times, holds, booking, cancelling, changing and marking, at the edges a customer or a store meets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from crm_core import customers, hours, outbox, reservations, staff
from crm_core.errors import BookingClosed, Conflict, Erased, InvalidInput, NotBookable, SlotTaken, TooLateToChange
from crm_core.models import Booking, BookingClaim, OutboxMessage, TimelineEntry
from tests.integration.reservations.conftest import TOKYO, jst

MONDAY = date(2026, 11, 23)  # the clock stands at Sunday 2026-11-22 12:00 in Tokyo
TUESDAY = date(2026, 11, 24)


def _claims(uow_factory, booking_id: int) -> list[BookingClaim]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(BookingClaim).where(BookingClaim.booking_id == booking_id)))


def test_a_day_offers_every_start_time_that_ends_by_closing_with_both_stylists_free(salon):
    free = salon.free("cut", MONDAY)
    assert list(free) == [jst(23, 10) + timedelta(minutes=30 * n) for n in range(17)]  # 10:00 .. 18:00
    assert set(free.values()) == {2}
    assert max(salon.free("table", MONDAY)) == jst(23, 17, 30)  # 90 minutes end at 19:00
    assert all(moment.tzinfo is not None and moment.utcoffset() == timedelta(0) for moment in free)


def test_today_offers_only_times_past_the_notice_and_the_horizon_ends_the_offer(salon, clock):
    today = salon.free("cut", date(2026, 11, 22))
    assert min(today) == jst(22, 13)  # 12:00 now, one hour's notice
    assert salon.free("cut", date(2026, 11, 22) + timedelta(days=60))
    assert salon.free("cut", date(2026, 11, 22) + timedelta(days=61)) == {}


def test_a_hold_takes_a_place_until_it_runs_out_with_no_job_to_free_it(salon, clock, uow_factory):
    held = salon.hold(salon.hanako, "consult", jst(23, 10))
    assert salon.free("consult", MONDAY).get(jst(23, 10)) is None
    with pytest.raises(SlotTaken):
        salon.hold(salon.taro, "consult", jst(23, 10))
    clock.advance(minutes=5)  # the hold's five minutes are over
    assert salon.free("consult", MONDAY)[jst(23, 10)] == 1
    taken = salon.hold(salon.taro, "consult", jst(23, 10))
    assert [claim.booking_id for claim in _claims(uow_factory, taken.id)] == [taken.id] * 6
    with pytest.raises(SlotTaken):  # the first customer confirms too late: the time is gone
        salon.confirm(salon.hanako, held.id)
    assert salon.confirm(salon.taro, taken.id).created


def test_a_hold_that_ran_out_untaken_still_confirms(salon, clock):
    held = salon.hold(salon.hanako, "consult", jst(23, 10))
    clock.advance(minutes=30)
    assert salon.confirm(salon.hanako, held.id).booking.status == "booked"


def test_confirming_twice_books_once_and_sets_the_reminders(salon, uow_factory):
    held = salon.hold(salon.hanako, "cut", jst(23, 15))
    first = salon.confirm(salon.hanako, held.id)
    again = salon.confirm(salon.hanako, held.id)
    assert (first.created, again.created) == (True, False)
    booking = first.booking
    assert booking.remind_eve_at == jst(22, 18)  # 18:00 the day before, in the store's zone
    assert booking.remind_soon_at == jst(23, 13)
    assert {claim.expires_at for claim in _claims(uow_factory, booking.id)} == {None}
    with uow_factory() as uow:
        kinds = uow.session.exec(select(TimelineEntry.kind).where(TimelineEntry.customer_id == salon.hanako)).all()
    assert kinds.count("booking_made") == 1


def test_a_new_hold_gives_up_the_customers_earlier_one(salon, uow_factory):
    first = salon.hold(salon.hanako, "consult", jst(23, 10))
    salon.hold(salon.hanako, "consult", jst(23, 11))
    assert salon.free("consult", MONDAY)[jst(23, 10)] == 1
    with pytest.raises(BookingClosed):
        salon.confirm(salon.hanako, first.id)


@pytest.mark.parametrize(
    ("starts_at", "reason"),
    [
        (jst(22, 11), "past"),
        (jst(22, 12, 30), "too_soon"),
        (datetime(2027, 1, 22, 1, 0, tzinfo=UTC), "too_far"),
        (jst(23, 10, 15), "off_grid"),
        (jst(23, 18, 30), "off_grid"),  # a 60-minute cut would end after closing
        (jst(23, 9, 30), "off_grid"),
    ],
)
def test_times_that_cannot_be_booked_say_why(salon, starts_at, reason):
    with pytest.raises(NotBookable) as refused:
        salon.hold(salon.hanako, "cut", starts_at)
    assert refused.value.params["reason"] == reason


def test_a_holiday_is_closed_and_staff_still_cannot_book_it(salon, uow_factory):
    with uow_factory() as uow:
        store = salon.store(uow)
        shop_hours = hours.get_shop_hours(uow=uow)
        hours.set_shop_hours(
            uow=uow,
            hours=hours.BusinessHours(weekly=shop_hours.weekly, holidays=frozenset({MONDAY}), special={}),
        )
        uow.commit()
        assert store.business_hours is None
    assert salon.free("cut", MONDAY) == {}
    with pytest.raises(NotBookable) as refused:
        salon.book(salon.hanako, "cut", jst(23, 10), staff_user_id=None)
    assert refused.value.params["reason"] == "closed"


def test_two_stylists_take_two_cuts_at_once_and_a_third_is_full(salon):
    assert salon.book(salon.hanako, "cut", jst(23, 10)).booking.status == "booked"
    assert salon.free("cut", MONDAY)[jst(23, 10)] == 1
    salon.book(salon.taro, "cut", jst(23, 10, 30))  # overlaps 10:30-11:00: both stylists busy then
    free = salon.free("cut", MONDAY)
    assert jst(23, 10) not in free and jst(23, 10, 30) not in free
    assert free[jst(23, 11)] == 1
    with pytest.raises(SlotTaken):
        salon.book(salon.crowd[0], "cut", jst(23, 10))


def test_the_same_key_books_once_and_another_booking_under_it_is_a_conflict(salon):
    first = salon.book(salon.hanako, "table", jst(23, 12), idempotency_key="web:1")
    again = salon.book(salon.hanako, "table", jst(23, 12), idempotency_key="web:1")
    assert (first.created, again.created, again.booking.id) == (True, False, first.booking.id)
    assert salon.free("table", MONDAY)[jst(23, 12)] == 3
    with pytest.raises(Conflict):
        salon.book(salon.hanako, "table", jst(23, 13), idempotency_key="web:1")


def test_a_customer_cancels_before_the_deadline_and_not_after(salon, clock, uow_factory):
    booking = salon.book(salon.hanako, "consult", jst(23, 15)).booking
    late = salon.book(salon.taro, "consult", jst(23, 11)).booking
    with uow_factory() as uow:
        done = reservations.cancel(uow=uow, booking_id=booking.id, customer_id=salon.hanako, zone=TOKYO)
        again = reservations.cancel(uow=uow, booking_id=booking.id, customer_id=salon.hanako, zone=TOKYO)
        uow.commit()
    assert (done.created, again.created, done.booking.status) == (True, False, "cancelled")
    assert _claims(uow_factory, booking.id) == []
    assert salon.free("consult", MONDAY)[jst(23, 15)] == 1
    clock.set(jst(22, 11, 1))  # under 24 hours before 11:00 on the 23rd
    with uow_factory() as uow, pytest.raises(TooLateToChange):
        reservations.cancel(uow=uow, booking_id=late.id, customer_id=salon.taro, zone=TOKYO)
    with uow_factory() as uow:  # staff may still cancel it
        assert reservations.cancel(uow=uow, booking_id=late.id, as_staff=True, zone=TOKYO).created


def test_the_deadline_is_inclusive_to_the_minute(salon, clock, uow_factory):
    booking = salon.book(salon.hanako, "consult", jst(23, 15)).booking
    clock.set(jst(22, 15))  # exactly 24 hours before
    with uow_factory() as uow:
        assert reservations.can_change(uow=uow, booking=booking, zone=TOKYO)
    clock.advance(microseconds=1)
    with uow_factory() as uow:
        assert not reservations.can_change(uow=uow, booking=booking, zone=TOKYO)


def test_cancelling_cancels_the_pending_reminders_but_not_a_sent_one(salon, uow_factory):
    booking = salon.book(salon.hanako, "consult", jst(24, 15)).booking
    with uow_factory() as uow:
        for occurrence in ("eve", "soon"):
            (row,) = outbox.enqueue(
                uow=uow,
                address="U1",
                messages=[{"type": "text", "text": occurrence}],
                category="transactional",
                customer_id=salon.hanako,
            )
            row.dedupe_key = reservations.reminder_key(salon.hanako, booking.id, occurrence)  # as the engine does
            row.status = "sent" if occurrence == "eve" else "pending"
        reservations.cancel(uow=uow, booking_id=booking.id, customer_id=salon.hanako, zone=TOKYO)
        uow.commit()
        statuses = dict(uow.session.exec(select(OutboxMessage.dedupe_key, OutboxMessage.status)).all())
    assert sorted(statuses.values()) == ["cancelled", "sent"]


def test_a_change_keeps_the_old_time_until_the_new_one_is_confirmed(salon, uow_factory):
    old = salon.book(salon.hanako, "consult", jst(24, 10)).booking
    change = salon.hold(salon.hanako, "consult", jst(24, 10, 30), replaces_id=old.id)
    assert jst(24, 10) not in salon.free("consult", TUESDAY)  # still the old booking's
    done = salon.confirm(salon.hanako, change.id).booking
    with uow_factory() as uow:
        assert uow.session.get(Booking, old.id).status == "cancelled"
    assert done.replaces_id == old.id and done.status == "booked"
    assert salon.free("consult", TUESDAY)[jst(24, 10)] == 1


def test_a_change_to_an_overlapping_time_of_a_single_place_takes_over_the_shared_units(salon, uow_factory):
    old = salon.book(salon.hanako, "table", jst(24, 12)).booking  # 12:00-13:30, one of four tables
    for customer in salon.crowd[:3]:
        salon.book(customer, "table", jst(24, 12))  # every table at 12:00 now
    change = salon.hold(salon.hanako, "table", jst(24, 12, 30), replaces_id=old.id)
    done = salon.confirm(salon.hanako, change.id).booking
    units = sorted(claim.starts_at for claim in _claims(uow_factory, done.id))
    assert units[0] == jst(24, 12, 30) and len(units) == 18
    assert _claims(uow_factory, old.id) == []
    assert salon.free("table", TUESDAY)[jst(24, 13, 30)] == 3  # the others end at 13:30


def test_the_times_offered_for_a_change_count_the_changed_booking_s_places_as_free(salon):
    old = salon.book(salon.hanako, "consult", jst(24, 10)).booking  # 10:00-10:30, the only place
    salon.book(salon.taro, "consult", jst(24, 11))
    assert jst(24, 10) not in salon.free("consult", TUESDAY)
    changing = salon.free("consult", TUESDAY, ignoring=old.id)
    assert changing[jst(24, 10)] == 1 and jst(24, 11) not in changing  # its own time, but not another's
    with salon.uow_factory() as uow:
        rules = reservations.rules_for(uow=uow, store=salon.store(uow), zone=TOKYO)
        nearest = reservations.nearest_free(
            uow=uow, rules=rules, menu=salon.menu(uow, "consult"), around=jst(24, 10), ignoring=old.id
        )
    assert nearest[0].starts_at == jst(24, 10)


def test_staff_move_a_booking_and_mark_it_from_its_day(salon, clock, uow_factory):
    booking = salon.book(salon.hanako, "cut", jst(23, 10)).booking
    with uow_factory() as uow:
        moved = reservations.move(uow=uow, booking_id=booking.id, starts_at=jst(23, 10, 30), zone=TOKYO)
        uow.commit()
    new = moved.booking
    with uow_factory() as uow, pytest.raises(Exception) as early:
        reservations.mark(uow=uow, booking_id=new.id, status="arrived", zone=TOKYO)
    assert "from its day" in str(early.value)
    clock.set(jst(23, 10, 20))
    with uow_factory() as uow, pytest.raises(Exception) as before:
        reservations.mark(uow=uow, booking_id=new.id, status="no_show", zone=TOKYO)
    assert "its time has come" in str(before.value)
    with uow_factory() as uow:
        marked = reservations.mark(uow=uow, booking_id=new.id, status="arrived", zone=TOKYO)
        uow.commit()
    assert marked.status == "arrived"
    with uow_factory() as uow, pytest.raises(BookingClosed):
        reservations.cancel(uow=uow, booking_id=new.id, zone=TOKYO, as_staff=True)


def test_hours_off_the_five_minute_grid_count_each_opening_s_own_places(salon, uow_factory):
    with uow_factory() as uow:  # Monday: 10:03-12:00 and 13:02-15:00
        special = {MONDAY: ((10 * 60 + 3, 12 * 60), (13 * 60 + 2, 15 * 60))}
        salon.store(uow).business_hours = hours.BusinessHours(
            weekly=hours.DEFAULT_HOURS.weekly, holidays=frozenset(), special=special
        ).as_json()
        uow.commit()
    free = salon.free("consult", MONDAY)
    assert min(free) == jst(23, 10, 3) and jst(23, 13, 2) in free

    salon.book(salon.hanako, "consult", jst(23, 10, 3))
    salon.book(salon.taro, "consult", jst(23, 13, 32))
    free = salon.free("consult", MONDAY, include_full=True)
    assert (free[jst(23, 10, 3)], free[jst(23, 10, 33)]) == (0, 1)
    assert (free[jst(23, 13, 2)], free[jst(23, 13, 32)], free[jst(23, 14, 2)]) == (1, 0, 1)
    cut = salon.free("cut", MONDAY, include_full=True)
    assert cut[jst(23, 10, 3)] == 2, "the consultation has places of its own"


def test_a_refused_hold_leaves_nothing_behind_even_when_the_caller_commits(salon, uow_factory):
    salon.book(salon.taro, "consult", jst(23, 10))
    with uow_factory() as uow:
        with pytest.raises(SlotTaken):
            reservations.hold(
                uow=uow,
                customer_id=salon.hanako,
                store=salon.store(uow),
                menu=salon.menu(uow, "consult"),
                starts_at=jst(23, 10),
                zone=TOKYO,
            )
        uow.commit()  # as an event handler that answered the customer does
    with uow_factory() as uow:
        assert uow.session.exec(select(Booking).where(Booking.customer_id == salon.hanako)).all() == []


def test_a_change_made_meanwhile_is_seen_through_a_booking_read_before_it(salon, uow_factory):
    booking = salon.book(salon.hanako, "consult", jst(24, 15)).booking
    with uow_factory() as staff_uow:
        seen = reservations.get_booking(uow=staff_uow, booking_id=booking.id)  # the console shows it booked
        assert seen.status == "booked"
        staff_uow.session.commit()  # (SQLite's one writer: end the read; the session keeps the object it read)
        with uow_factory() as customer_uow:  # the customer cancels on LINE meanwhile
            reservations.cancel(uow=customer_uow, booking_id=booking.id, customer_id=salon.hanako, zone=TOKYO)
            customer_uow.commit()
        again = reservations.cancel(uow=staff_uow, booking_id=booking.id, as_staff=True, zone=TOKYO)
        assert again.created is False  # no second cancellation, no second message
        with pytest.raises(BookingClosed):
            reservations.move(uow=staff_uow, booking_id=booking.id, starts_at=jst(24, 16), zone=TOKYO)


def test_a_lapsed_hold_is_confirmed_only_under_the_stores_rules_as_they_are_now(salon, clock):
    held = salon.hold(salon.hanako, "consult", jst(22, 13, 30))  # 12:00 now, an hour's notice
    clock.set(jst(22, 12, 45))  # the hold lapsed at 12:05; 13:30 is now within the hour's notice
    with pytest.raises(NotBookable) as refused:
        salon.confirm(salon.hanako, held.id)
    assert refused.value.params["reason"] == "too_soon"


def test_a_resource_keeps_the_places_its_bookings_ahead_use(salon, uow_factory):
    for customer in salon.crowd[:3]:
        salon.book(customer, "table", jst(24, 12))
    with uow_factory() as uow, pytest.raises(InvalidInput) as refused:
        reservations.upsert_menu(
            uow=uow, store_id=salon.store_id, code="table", name="ランチ", duration_minutes=90, price=3000, capacity=2
        )
    assert refused.value.params == {"count": 3, "field": "capacity"}
    with uow_factory() as uow:  # raising it is fine, and so is lowering it to what is used
        reservations.upsert_menu(
            uow=uow, store_id=salon.store_id, code="table", name="ランチ", duration_minutes=90, price=3000, capacity=3
        )
        uow.commit()
    free = salon.free("table", TUESDAY)
    assert jst(24, 11) not in free and free[jst(24, 10, 30)] == 3  # 11:00-12:30 overlaps the three at 12:00


def test_erasing_a_customer_cancels_their_bookings_ahead_and_drops_the_notes(salon, uow_factory, clock):
    past = salon.book(salon.hanako, "consult", jst(22, 14), note="右耳が聞こえにくい").booking
    ahead = salon.book(salon.hanako, "consult", jst(24, 10), note="090-1234-5678 に連絡").booking
    clock.set(jst(23, 9))
    with uow_factory() as uow:
        customers.erase_customer(uow=uow, customer_id=salon.hanako)
        uow.commit()
        statuses = {b.id: (b.status, b.note) for b in uow.session.exec(select(Booking))}
    assert statuses == {past.id: ("booked", None), ahead.id: ("cancelled", None)}
    assert _claims(uow_factory, ahead.id) == []
    assert salon.free("consult", TUESDAY)[jst(24, 10)] == 1


def test_a_change_that_is_never_confirmed_leaves_the_booking_its_places(salon, clock, uow_factory):
    old = salon.book(salon.hanako, "table", jst(24, 12)).booking  # 12:00-13:30
    salon.hold(salon.hanako, "table", jst(24, 12, 30), replaces_id=old.id)  # overlaps 12:30-13:30
    clock.advance(minutes=6)  # the change's hold lapsed: the customer gave up
    for customer in salon.crowd[:3]:
        salon.book(customer, "table", jst(24, 13))  # three other tables at 13:00: only the old one's is left
    with pytest.raises(SlotTaken):
        salon.book(salon.crowd[3], "table", jst(24, 13))
    assert len(_claims(uow_factory, old.id)) == 18  # still all of 12:00-13:30


def test_confirming_keeps_the_stylist_the_hold_had(salon, uow_factory):
    first = salon.book(salon.taro, "cut", jst(24, 15)).booking  # あおい (the first stylist) at 15:00
    held = salon.hold(salon.hanako, "cut", jst(24, 15))  # so the hold is れん's
    with uow_factory() as uow:
        reservations.cancel(uow=uow, booking_id=first.id, as_staff=True, zone=TOKYO)  # あおい is free again
        uow.commit()
    booked = salon.confirm(salon.hanako, held.id).booking
    assert booked.resource_id == held.resource_id != first.resource_id
    assert {claim.expires_at for claim in _claims(uow_factory, held.id)} == {None}
    assert len(_claims(uow_factory, held.id)) == 12


def test_an_erased_customer_cannot_hold_or_book(salon, uow_factory):
    with uow_factory() as uow:
        customers.erase_customer(uow=uow, customer_id=salon.taro)
        uow.commit()
    with pytest.raises(Erased):
        salon.hold(salon.taro, "consult", jst(24, 10))
    with pytest.raises(Erased):
        salon.book(salon.taro, "consult", jst(24, 10))


def test_a_change_past_the_deadline_is_refused_when_the_time_is_chosen(salon, clock):
    old = salon.book(salon.hanako, "consult", jst(23, 15)).booking
    clock.set(jst(22, 15, 1))  # under 24 hours before
    with pytest.raises(TooLateToChange):
        salon.hold(salon.hanako, "consult", jst(23, 16), replaces_id=old.id)


def test_every_booking_and_change_is_on_the_customers_timeline(salon, uow_factory):
    made = salon.book(salon.hanako, "consult", jst(24, 10)).booking
    change = salon.hold(salon.hanako, "consult", jst(24, 11), replaces_id=made.id)
    salon.confirm(salon.hanako, change.id)
    with uow_factory() as uow:
        entries = uow.session.exec(
            select(TimelineEntry).where(TimelineEntry.customer_id == salon.hanako).order_by(TimelineEntry.id)
        ).all()
    booking_entries = [(e.kind, e.data["booking_id"]) for e in entries if e.kind.startswith("booking_")]
    assert booking_entries == [("booking_made", made.id), ("booking_moved", change.id)]


def test_a_note_has_at_most_500_characters(salon):
    assert salon.book(salon.hanako, "consult", jst(24, 10), note="あ" * 500).booking.note == "あ" * 500
    with pytest.raises(InvalidInput) as refused:
        salon.book(salon.taro, "consult", jst(24, 11), note="あ" * 501)
    assert refused.value.params["field"] == "note"


def test_staff_may_book_within_the_notice_customers_may_not(salon, uow_factory):
    with uow_factory() as uow:
        staff_user = staff.create_staff_user(uow=uow, email="front@salon.example", password="x" * 12, role="staff")
        uow.commit()
        staff_id = staff_user.id
    with pytest.raises(NotBookable):  # 12:00 now, one hour's notice
        salon.book(salon.hanako, "consult", jst(22, 12, 30))
    booked = salon.book(salon.hanako, "consult", jst(22, 12, 30), source="console", staff_user_id=staff_id)
    assert booked.booking.created_by == staff_id
