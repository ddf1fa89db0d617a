"""Reservations in the console (staff): the day and week of a store, adding a booking for a caller, marking,
moving and cancelling, and what the customer is told on LINE."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from crm_core import reservations
from crm_core.models import Booking, Customer, OutboxMessage, Store
from tests.integration.console.conftest import csrf_token

TOKYO = ZoneInfo("Asia/Tokyo")
PAGE = "/console/reservations"
MONDAY = "2026-11-23"  # the clock stands at Sunday 2026-11-22 12:00 in Tokyo


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO)


def book(uow_factory, salon, customer: str, menu: str, starts_at: datetime) -> int:
    with uow_factory() as uow:
        store = uow.session.get(Store, salon["store_id"])
        result = reservations.book(
            uow=uow,
            customer_id=salon[customer],
            store=store,
            menu=reservations.get_menu(uow=uow, store_id=store.id, code=menu),
            starts_at=starts_at,
            zone=TOKYO,
            source="line",
        )
        uow.commit()
        return result.booking.id


def booking(uow_factory, booking_id: int) -> Booking:
    with uow_factory() as uow:
        return uow.session.get(Booking, booking_id)


def messages_to(uow_factory, customer_id: int) -> list[OutboxMessage]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)))


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, f"{PAGE}?store=SALON&day={MONDAY}"), **data})


@pytest.mark.parametrize("role", ["staff", "marketer", "admin"])
def test_every_role_sees_the_day_with_its_bookings_per_stylist(as_role, salon, uow_factory, role):
    book(uow_factory, salon, "hanako", "cut", jst(23, 11))
    book(uow_factory, salon, "jiro", "consult", jst(23, 14, 30))
    client = as_role(role)

    page = client.get(f"{PAGE}?store=SALON&day={MONDAY}").get_data(as_text=True).replace("\u202f", " ")

    assert "表参道サロン" in page and "Mon, Nov 23, 2026" in page
    assert "山田 花子" in page and "カット" in page and "11:00 AM–12:00 PM" in page
    assert "鈴木 次郎" in page and "相談" in page
    assert "あおい" in page and "れん" in page  # the rows: the stylists and the consultation's own place
    assert f'href="{PAGE}"' in page  # the navigation
    assert ("Booking setup and exports" in page) == (role == "admin")


def test_the_timeline_places_a_booking_by_its_time_and_length(as_role, salon, uow_factory):
    booking_id = book(uow_factory, salon, "hanako", "cut", jst(23, 11))
    page = as_role("staff").get(f"{PAGE}?store=SALON&day={MONDAY}").get_data(as_text=True).replace("\u202f", " ")
    lane = re.search(r'<tr data-row="\d+">\s*<th scope="row" rowspan="1">あおい</th>(.*?)</tr>', page, re.S).group(1)
    spans = re.findall(r'<td colspan="(\d+)" class="resv-(gap|block)', lane)
    assert spans == [("12", "gap"), ("12", "block"), ("84", "gap")]  # 10:00-19:00 in 5-minute columns
    assert f'data-booking="{booking_id}"' in lane


def test_the_week_shows_each_day_and_the_arrows_move_by_a_week(as_role, salon, uow_factory):
    book(uow_factory, salon, "hanako", "cut", jst(25, 15))
    client = as_role("staff")
    page = client.get(f"{PAGE}?store=SALON&day={MONDAY}&view=week").get_data(as_text=True).replace("\u202f", " ")
    assert "Mon, Nov 23, 2026 – Sun, Nov 29, 2026" in page and "山田 花子" in page
    assert "day=2026-11-30&amp;view=week" in page and "day=2026-11-16&amp;view=week" in page
    other = client.get(f"{PAGE}?store=SALON&day=2026-11-30&view=week").get_data(as_text=True).replace("\u202f", " ")
    assert "山田 花子" not in other


def test_today_is_the_default_and_by_menu_shows_menus_as_rows(as_role, salon, uow_factory):
    book(uow_factory, salon, "hanako", "cut", jst(22, 15))
    page = as_role("staff").get(f"{PAGE}?store=SALON&by=menu").get_data(as_text=True).replace("\u202f", " ")
    assert "Sun, Nov 22, 2026 · Today" in page and "山田 花子" in page
    assert 'rowspan="1">カット</th>' in page and 'rowspan="1">相談</th>' in page


def test_staff_add_a_booking_for_a_caller_found_by_name(as_role, salon, uow_factory):
    client = as_role("staff")
    found = client.get(f"{PAGE}/new?store=SALON&q=鈴木").get_data(as_text=True).replace("\u202f", " ")
    assert "鈴木 次郎" in found and "山田 花子" not in found
    form = (
        client.get(f"{PAGE}/new?store=SALON&customer={salon['jiro']}&menu=cut&day={MONDAY}")
        .get_data(as_text=True)
        .replace("\u202f", " ")
    )
    assert "11:00 AM" in form and "2 free" in form
    key = re.search(r'name="key" value="([0-9a-f]{32})"', form).group(1)
    data = {"store": "SALON", "customer": salon["jiro"], "menu": "cut", "day": MONDAY, "key": key, "note": "電話"}

    response = post(client, f"{PAGE}/new", **data, starts_at=jst(23, 11).isoformat())
    again = post(client, f"{PAGE}/new", **data, starts_at=jst(23, 11).isoformat())  # a double tap

    assert response.status_code == again.status_code == 302
    with uow_factory() as uow:
        made = uow.session.exec(select(Booking).where(Booking.customer_id == salon["jiro"])).all()
    assert [(b.starts_at, b.source, b.status, b.note) for b in made] == [(jst(23, 11), "console", "booked", "電話")]
    page = client.get(response.headers["Location"]).get_data(as_text=True).replace("\u202f", " ")
    assert "鈴木 次郎 is booked for カット on Mon, Nov 23, 2026 11:00 AM." in page


def test_a_taken_or_closed_time_is_refused_next_to_the_time(as_role, salon, uow_factory):
    book(uow_factory, salon, "hanako", "consult", jst(23, 11))
    client = as_role("staff")
    data = {"store": "SALON", "customer": salon["jiro"], "menu": "consult", "day": MONDAY}
    taken = post(client, f"{PAGE}/new", **data, starts_at=jst(23, 11).isoformat())
    closed = post(client, f"{PAGE}/new", **data, starts_at=jst(23, 20).isoformat())
    missing = post(client, f"{PAGE}/new", **data, starts_at="")
    assert taken.status_code == closed.status_code == missing.status_code == 400
    assert 'data-error="starts_at">This time is no longer free. Please choose another time.' in taken.get_data(
        as_text=True
    ).replace("\u202f", " ")
    assert 'data-error="starts_at">The store does not take this menu at this time.' in closed.get_data(
        as_text=True
    ).replace("\u202f", " ")
    assert 'data-error="starts_at">Choose one of the free times.' in missing.get_data(as_text=True).replace(
        "\u202f", " "
    )


def test_japanese_pages_say_why_in_japanese(as_role, salon, uow_factory):
    client = as_role("staff")
    with client.session_transaction() as session:
        session["lang"] = "ja"
    data = {"store": "SALON", "customer": salon["jiro"], "menu": "consult", "day": MONDAY}
    closed = (
        post(client, f"{PAGE}/new", **data, starts_at=jst(23, 20).isoformat())
        .get_data(as_text=True)
        .replace("\u202f", " ")
    )
    assert "予約" in closed and "The store" not in closed
    page = client.get(f"{PAGE}?store=SALON&day={MONDAY}").get_data(as_text=True).replace("\u202f", " ")
    assert "2026年11月23日(月)" in page


def test_staff_mark_arrived_and_undo_and_no_show_waits_for_the_time(as_role, salon, uow_factory, clock):
    booking_id = book(uow_factory, salon, "hanako", "cut", jst(22, 15))
    client = as_role("staff")
    early = post(client, f"{PAGE}/bookings/{booking_id}/mark", status="no_show")
    assert "once its time has come" in client.get(early.headers["Location"]).get_data(as_text=True).replace(
        "\u202f", " "
    )
    assert booking(uow_factory, booking_id).status == "booked"

    post(client, f"{PAGE}/bookings/{booking_id}/mark", status="arrived")
    assert booking(uow_factory, booking_id).status == "arrived"
    post(client, f"{PAGE}/bookings/{booking_id}/mark", status="booked")
    assert booking(uow_factory, booking_id).status == "booked"
    clock.advance(hours=4)
    post(as_role("staff"), f"{PAGE}/bookings/{booking_id}/mark", status="no_show")  # logged in again
    assert booking(uow_factory, booking_id).status == "no_show"


def test_forms_without_the_csrf_token_are_refused(as_role, salon, uow_factory):
    booking_id = book(uow_factory, salon, "hanako", "cut", jst(22, 15))
    client = as_role("admin")
    for path, data in (
        (f"{PAGE}/bookings/{booking_id}/mark", {"status": "arrived"}),
        (f"{PAGE}/bookings/{booking_id}/cancel", {}),
        (f"{PAGE}/bookings/{booking_id}/move", {"starts_at": jst(23, 11).isoformat()}),
        (
            f"{PAGE}/new",
            {"store": "SALON", "customer": salon["jiro"], "menu": "cut", "starts_at": jst(23, 11).isoformat()},
        ),
    ):
        assert client.post(path, data=data).status_code == 400
    assert booking(uow_factory, booking_id).status == "booked"
    with uow_factory() as uow:
        assert len(uow.session.exec(select(Booking)).all()) == 1


def test_moving_a_booking_tells_the_customer_on_line(as_role, salon, uow_factory, services):
    booking_id = book(uow_factory, salon, "hanako", "cut", jst(23, 11))
    client = as_role("staff")
    form = client.get(f"{PAGE}/bookings/{booking_id}/move?day=2026-11-24").get_data(as_text=True).replace("\u202f", " ")
    assert "Tue, Nov 24, 2026" in form and "3:00 PM" in form

    response = post(client, f"{PAGE}/bookings/{booking_id}/move", starts_at=jst(24, 15).isoformat())

    assert response.status_code == 302 and "day=2026-11-24" in response.headers["Location"]
    assert booking(uow_factory, booking_id).status == "cancelled"
    with uow_factory() as uow:
        moved = uow.session.exec(select(Booking).where(Booking.replaces_id == booking_id)).one()
    assert (moved.starts_at, moved.status) == (jst(24, 15), "booked")
    services.pump.wait_idle(timeout=10)  # the new booking's reminders are decided on the event workers
    sent = {message.dedupe_key.split("#")[0]: message for message in messages_to(uow_factory, salon["hanako"])}
    message = sent.pop(f"booking_changed:{moved.id}")
    assert message.category == "transactional"
    text = str(message.messages)
    assert "2026年11月24日(火) 15:00" in text and "2026年11月23日(月) 11:00" in text and "表参道サロン" in text
    assert all(f":{moved.id}:" in key for key in sent), sent  # only the new booking's reminders besides


def test_a_move_to_a_full_time_is_refused_next_to_the_time(as_role, salon, uow_factory):
    book(uow_factory, salon, "jiro", "consult", jst(23, 15))
    booking_id = book(uow_factory, salon, "hanako", "consult", jst(23, 11))
    response = post(as_role("staff"), f"{PAGE}/bookings/{booking_id}/move", starts_at=jst(23, 15).isoformat())
    assert response.status_code == 400
    assert 'data-error="starts_at">This time is no longer free.' in response.get_data(as_text=True).replace(
        "\u202f", " "
    )
    assert booking(uow_factory, booking_id).status == "booked"
    assert messages_to(uow_factory, salon["hanako"]) == []


def test_cancelling_tells_a_friend_on_line_but_not_a_customer_who_blocked_us(as_role, salon, uow_factory):
    hanako = book(uow_factory, salon, "hanako", "cut", jst(23, 11))
    taro = book(uow_factory, salon, "taro", "cut", jst(23, 12))
    client = as_role("staff")

    post(client, f"{PAGE}/bookings/{hanako}/cancel")
    post(client, f"{PAGE}/bookings/{hanako}/cancel")  # again: told once
    post(client, f"{PAGE}/bookings/{taro}/cancel")

    assert booking(uow_factory, hanako).status == booking(uow_factory, taro).status == "cancelled"
    (message,) = messages_to(uow_factory, salon["hanako"])
    assert message.dedupe_key.startswith(f"booking_cancelled_by_store:{hanako}") and message.category == "transactional"
    assert "2026年11月23日(月) 11:00" in str(message.messages) and "0312345678" in str(message.messages)
    assert messages_to(uow_factory, salon["taro"]) == []
    page = client.get(f"{PAGE}?store=SALON&day={MONDAY}").get_data(as_text=True).replace("\u202f", " ")
    assert 'data-status="cancelled"' in page


def test_the_customer_page_lists_upcoming_and_past_bookings_and_the_no_shows(as_role, salon, uow_factory, clock):
    soon = book(uow_factory, salon, "hanako", "cut", jst(22, 13))
    later = book(uow_factory, salon, "hanako", "consult", jst(24, 10))
    client = as_role("staff")
    post(client, f"{PAGE}/bookings/{later}/cancel")
    clock.advance(hours=3)  # 15:00: the 13:00 cut is over
    client = as_role("staff")
    post(client, f"{PAGE}/bookings/{soon}/mark", status="no_show")
    ahead = book(uow_factory, salon, "hanako", "cut", jst(25, 11))

    page = client.get(f"/console/customers/{salon['hanako']}").get_data(as_text=True).replace("\u202f", " ")

    upcoming = page.split('data-bookings="upcoming"')[1].split("</table>")[0]
    past = page.split('data-bookings="past"')[1].split("</table>")[0]
    assert f'data-booking="{ahead}"' in upcoming and "Wed, Nov 25, 2026 11:00 AM" in upcoming and "¥5,500" in upcoming
    assert f'data-booking="{soon}" data-status="no_show"' in past and "No-show" in past
    assert f'data-booking="{later}" data-status="cancelled"' in past and "Cancelled" in past
    assert "No-shows: 1" in page
    assert "A booking was cancelled" in page and "Did not come for a booking" in page  # the timeline


def test_the_store_picker_switches_stores_and_remembers_the_choice(as_role, salon, uow_factory):
    from crm_core import stores

    with uow_factory() as uow:
        stores.upsert_store(uow=uow, code="GINZA", name="銀座店")
        uow.commit()
    book(uow_factory, salon, "hanako", "cut", jst(22, 15))
    client = as_role("staff")
    first = client.get(PAGE).get_data(as_text=True)
    assert 'data-testid="store-picker"' in first and '<option value="GINZA"' in first
    ginza = client.get(f"{PAGE}?store=GINZA").get_data(as_text=True)
    assert "銀座店" in ginza and "山田 花子" not in ginza and "This store has no bookable menus yet." in ginza
    assert 'data-field="store">銀座店' in client.get(PAGE).get_data(as_text=True)  # remembered


def test_a_move_may_overlap_the_bookings_own_time(as_role, salon, uow_factory):
    hanako = book(uow_factory, salon, "hanako", "cut", jst(23, 11))
    book(uow_factory, salon, "jiro", "cut", jst(23, 11))  # both stylists busy 11:00-12:00
    client = as_role("staff")
    form = client.get(f"{PAGE}/bookings/{hanako}/move?day={MONDAY}").get_data(as_text=True).replace("\u202f", " ")
    assert f'value="{jst(23, 10, 30).astimezone(UTC).isoformat()}"' in form  # overlaps only her own 11:00

    response = post(client, f"{PAGE}/bookings/{hanako}/move", starts_at=jst(23, 10, 30).isoformat())

    assert response.status_code == 302
    with uow_factory() as uow:
        moved = uow.session.exec(select(Booking).where(Booking.replaces_id == hanako)).one()
    assert moved.starts_at == jst(23, 10, 30)


def test_a_first_time_caller_is_added_with_name_and_phone_and_then_booked(as_role, salon, uow_factory):
    client = as_role("staff")
    page = client.get(f"{PAGE}/new?store=SALON&q=新井").get_data(as_text=True)
    assert "No customer found." in page and 'data-testid="new-caller"' in page

    response = post(
        client,
        f"{PAGE}/new/customer",
        store="SALON",
        menu="cut",
        day=MONDAY,
        name=" 新井  はじめ ",
        phone="090-1111-2222",
    )

    assert response.status_code == 302
    with uow_factory() as uow:
        (made,) = uow.session.exec(select(Customer).where(Customer.phone == "09011112222")).all()
    assert made.name == "新井 はじめ" and made.consented_at is None  # no consent: no marketing
    assert f"customer={made.id}" in response.headers["Location"]
    bad = post(client, f"{PAGE}/new/customer", store="SALON", menu="cut", day=MONDAY, name="誰か", phone="12")
    assert bad.status_code == 302
    with uow_factory() as uow:
        assert uow.session.exec(select(Customer).where(Customer.name == "誰か")).all() == []
