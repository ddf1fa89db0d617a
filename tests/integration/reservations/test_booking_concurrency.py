"""The last places of a time under real concurrency: 50 customers released together.

On PostgreSQL they really race (READ COMMITTED, row locks, the claims' key); on SQLite they queue on
its one write lock (BEGIN IMMEDIATE), which must still give the same answers.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from crm_core import reservations
from crm_core.models import Booking, BookingClaim
from tests.integration.reservations.conftest import TOKYO, jst
from tests.threads import together


def _kinds(results) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[type(result).__name__] = counts.get(type(result).__name__, 0) + 1
    return counts


def test_50_customers_booking_the_last_place_get_it_exactly_once(salon, uow_factory):
    for customer in salon.crowd[:3]:
        salon.book(customer, "table", jst(24, 12))  # three of four tables taken: one place left

    def book(n):
        return salon.book(salon.crowd[n], "table", jst(24, 12, 30)).booking.id

    results = together(50, book)
    assert _kinds(results) == {"int": 1, "SlotTaken": 49}
    with uow_factory() as uow:
        assert uow.session.exec(select(func.count()).select_from(Booking).where(Booking.status == "booked")).one() == 4
        claims = uow.session.exec(select(BookingClaim.starts_at, func.count()).group_by(BookingClaim.starts_at)).all()
    assert max(count for _, count in claims) == 4


def test_50_holds_and_confirms_of_two_stylists_book_two(salon, uow_factory):
    def hold_and_confirm(n):
        held = salon.hold(salon.crowd[n], "cut", jst(24, 15))
        return salon.confirm(salon.crowd[n], held.id).booking.resource_id

    results = together(50, hold_and_confirm)
    booked = [result for result in results if isinstance(result, int)]
    assert len(booked) == 2 and len(set(booked)) == 2  # one each, both stylists
    assert _kinds(results)["SlotTaken"] == 48
    assert salon.free("cut", jst(24, 15).astimezone(TOKYO).date()).get(jst(24, 15)) is None


def test_double_taps_on_confirm_book_once(salon, uow_factory):
    held = salon.hold(salon.hanako, "consult", jst(24, 11))
    results = together(10, lambda n: salon.confirm(salon.hanako, held.id).created)
    assert sorted(results) == [False] * 9 + [True]
    with uow_factory() as uow:
        assert reservations.no_shows(uow=uow, customer_id=salon.hanako) == 0
        kinds = uow.session.exec(select(Booking.status).where(Booking.customer_id == salon.hanako)).all()
    assert kinds == ["booked"]


def test_a_lapsed_hold_confirmed_while_another_customer_takes_its_time_is_booked_at_most_once(
    salon, clock, uow_factory
):
    for day in (25, 26, 27):  # rounds: the race is won now by one side, now by the other
        _race_a_lapsed_hold(salon, clock, uow_factory, day)


def _race_a_lapsed_hold(salon, clock, uow_factory, day: int) -> None:
    starts = [jst(day, 10) + timedelta(minutes=30 * n) for n in range(8)]
    holds = [salon.hold(salon.crowd[n], "consult", moment) for n, moment in enumerate(starts)]
    clock.advance(minutes=6)  # every hold lapsed, nobody took the times yet

    def race(n):
        slot, index = divmod(n, 2)
        if index == 0:
            return ("confirm", salon.confirm(salon.crowd[slot], holds[slot].id).booking.id)
        return ("hold", salon.hold(salon.crowd[10 + slot], "consult", starts[slot]).id)

    results = together(16, race)
    with uow_factory() as uow:
        for moment in starts:  # a place of one: one claim holder per unit, and every booked booking whole
            live = uow.session.exec(
                select(BookingClaim.booking_id, func.count())
                .where(BookingClaim.starts_at >= moment, BookingClaim.starts_at < moment + timedelta(minutes=30))
                .group_by(BookingClaim.booking_id)
            ).all()
            assert len(live) == 1 and live[0][1] == 6, (moment, live, results)
        booked = uow.session.exec(select(Booking).where(Booking.status == "booked")).all()
        for booking in booked:
            claims = uow.session.exec(
                select(func.count()).select_from(BookingClaim).where(BookingClaim.booking_id == booking.id)
            ).one()
            assert claims == 6
