"""予約 on LINE: book (store, menu, day, time, confirm), a double tap, a time taken meanwhile, my bookings,
change, cancel before and after the store's deadline, days that cannot be booked, an English customer.

The clock stands at Sunday 2026-11-22 12:00 in Tokyo; the shop is open 10:00-19:00 every day, a cut takes
60 minutes with one chair, start times every 30 minutes: 17 a day.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from crm_core import customers, reservations
from crm_core.models import Booking, OutboxMessage, Store
from tests.e2e.conftest import postback_data, texts

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def salon(uow_factory):
    """A store taking bookings of a cut (one chair); the store id."""
    with uow_factory() as uow:
        store = Store(
            code="SHIBUYA", name="渋谷店", address="渋谷区道玄坂1-2-3", phone="03-1234-5678", created_at=uow.now()
        )
        uow.session.add(store)
        uow.session.flush()
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="cut", name="カット", duration_minutes=60, price=5500, capacity=1
        )
        uow.commit()
        return store.id


def _member(chat, name="山田 花子", language="ja"):
    person = chat(name, language)
    person.follow()
    person.tap("action=consent&v=2026-11")
    person.tap("action=register_new")
    return person


def _buttons(messages) -> list[str]:
    """The postback data of the buttons in these messages (not of their quick replies)."""
    return postback_data([message.get("contents") for message in messages])


def _picker(messages) -> dict:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "datetimepicker":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(messages)
    assert found, "no date picker offered"
    return found[0]


def _quick(messages) -> list[dict]:
    """The quick reply actions of the last message."""
    return [item["action"] for item in messages[-1].get("quickReply", {}).get("items", [])]


def _time(messages, label: str) -> str:
    (data,) = [action["data"] for action in _quick(messages) if action.get("label") == label]
    return data


def _start(person, say="予約") -> str:
    """予約 -> the menu (one store, so no store to choose); the day picker's postback data."""
    (menus,) = person.say(say)
    (choose,) = _buttons([menus])
    return _picker(person.tap(choose))["data"]


def _book(person, day: str, label: str) -> list[dict]:
    """The whole booking through LINE: the answer to Confirm."""
    times = person.tap(_start(person), date=day)
    (confirm, _another) = _buttons(person.tap(_time(times, label)))
    return person.tap(confirm)


def _bookings(uow_factory, person) -> list[Booking]:
    with uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=person.line_user_id)
        return list(
            uow.session.exec(
                select(Booking).where(Booking.customer_id == customer.id, Booking.status.in_(("booked", "cancelled")))
            )
        )


def test_book_a_cut_with_buttons_and_a_double_tap_books_once(chat, salon, uow_factory):
    hanako = _member(chat)

    (menus,) = hanako.say("予約")  # the only store: straight to its menus
    shown = texts([menus])
    assert "カット" in shown and "60分 · ¥5,500" in shown and "渋谷店" in shown
    (choose,) = _buttons([menus])
    day = hanako.tap(choose)
    picker = _picker(day)
    assert picker["mode"] == "date"
    assert (picker["min"], picker["initial"], picker["max"]) == ("2026-11-22", "2026-11-22", "2027-01-21")
    assert "ご希望の日をお選びください" in texts(day)

    times = hanako.tap(picker["data"], date="2026-11-23")
    assert "2026年11月23日(月)の渋谷店「カット」の空き時間です" in texts(times)
    labels = [action["label"] for action in _quick(times)]
    assert len(labels) == 13 and labels[:2] == ["10:00", "10:30"] and labels[-2:] == ["もっと遅い時間", "別の日"]
    later = hanako.tap(_time(times, "もっと遅い時間"))
    assert [action["label"] for action in _quick(later)] == [
        "15:30",
        "16:00",
        "16:30",
        "17:00",
        "17:30",
        "18:00",
        "別の日",
    ]

    (bubble,) = hanako.tap(_time(times, "10:00"))
    shown = texts([bubble])
    assert "こちらでご予約しますか？" in shown
    assert "カット（60分）" in shown and "2026年11月23日(月) 10:00" in shown and "渋谷店" in shown and "¥5,500" in shown
    assert "12:05までこの時間を確保しています" in shown
    confirm, another = _buttons([bubble])
    assert "step=day" in another and "date=2026-11-23" in another

    done = texts(hanako.tap(confirm))
    assert "ご予約が確定しました" in done and "2026年11月23日(月) 10:00" in done
    again = texts(hanako.tap(confirm))  # a second tap, not LINE's redelivery
    assert "このご予約は確定済みです" in again
    (booking,) = _bookings(uow_factory, hanako)
    assert booking.status == "booked" and booking.starts_at == jst(23, 10)
    with uow_factory() as uow:  # its reminders (18:00 today, 8:00 tomorrow) wait in the push engine's queue, once
        keys = uow.session.exec(select(OutboxMessage.dedupe_key).where(OutboxMessage.category != "reply")).all()
    assert sorted(keys) == [reservations.reminder_key(booking.customer_id, booking.id, o) for o in ("eve", "soon")]


def test_choosing_another_time_lets_the_first_one_go(chat, salon, uow_factory):
    hanako = _member(chat)
    times = hanako.tap(_start(hanako), date="2026-11-25")
    first, _ = _buttons(hanako.tap(_time(times, "10:00")))
    second, _ = _buttons(hanako.tap(_time(times, "11:00")))

    assert "この時間の確保は終了しました" in texts(hanako.tap(first))
    assert "ご予約が確定しました" in texts(hanako.tap(second))
    (booking,) = _bookings(uow_factory, hanako)
    assert booking.starts_at == jst(25, 11)
    times = hanako.tap(_start(hanako), date="2026-11-25")  # 10:00 is free again; 10:30 to 11:30 are not
    assert [action["label"] for action in _quick(times)][:3] == ["10:00", "12:00", "12:30"]


def test_with_two_stores_the_store_comes_first(chat, salon, uow_factory):
    with uow_factory() as uow:
        umeda = Store(code="UMEDA", name="梅田店", created_at=uow.now())
        uow.session.add(umeda)
        uow.session.flush()
        reservations.upsert_menu(
            uow=uow, store_id=umeda.id, code="color", name="カラー", duration_minutes=90, price=8000
        )
        uow.commit()
    hanako = _member(chat)

    (stores,) = hanako.say("予約")
    assert "ご予約の店舗をお選びください" in texts([stores])
    assert "渋谷店" in texts([stores]) and "梅田店" in texts([stores])
    shibuya, umeda_data = _buttons([stores])
    (menus,) = hanako.tap(umeda_data)
    assert "カラー" in texts([menus]) and "カット" not in texts([menus])


def test_a_time_taken_meanwhile_offers_the_nearest_free_times(chat, salon, uow_factory, clock):
    hanako = _member(chat)
    with uow_factory() as uow:
        taro = customers.create_customer(uow=uow, name="佐藤 太郎").id
        uow.commit()
    times = hanako.tap(_start(hanako), date="2026-11-23")

    def book_for_taro(starts_at):
        with uow_factory() as uow:
            store = uow.session.get(Store, salon)
            menu = reservations.get_menu(uow=uow, store_id=salon, code="cut")
            reservations.book(
                uow=uow, customer_id=taro, store=store, menu=menu, starts_at=starts_at, zone=TOKYO, source="api"
            )
            uow.commit()

    book_for_taro(jst(23, 10))  # while Hanako looks at the times
    taken = hanako.tap(_time(times, "10:00"))
    assert "その時間は先にご予約が入りました" in texts(taken)
    labels = [action["label"] for action in _quick(taken)]
    assert labels[:2] == ["11/23(月) 11:00", "11/23(月) 11:30"] and labels[-1] == "別の日"

    # a hold that ran out, and the time was taken meanwhile: at Confirm, the nearest times again
    (bubble,) = hanako.tap(_time(taken, "11/23(月) 11:00"))
    confirm, _ = _buttons([bubble])
    clock.advance(minutes=6)
    book_for_taro(jst(23, 11))
    late = hanako.tap(confirm)
    assert "その時間は先にご予約が入りました" in texts(late)
    assert [action["label"] for action in _quick(late)][0] == "11/23(月) 12:00"
    assert _bookings(uow_factory, hanako) == []


def test_my_bookings_change_and_cancel_before_the_deadline(chat, salon, uow_factory):
    hanako = _member(chat)
    assert "ご予約が確定しました" in texts(_book(hanako, "2026-11-25", "10:00"))

    (listed,) = hanako.tap("action=reservations&step=list")
    assert "2026年11月25日(水) 10:00" in texts([listed])
    change, cancel = _buttons([listed])[:2]

    picker = _picker(hanako.tap(change))
    assert "change=" in picker["data"]
    same_day = hanako.tap(picker["data"], date="2026-11-25")
    assert [action["label"] for action in _quick(same_day)][:2] == ["10:30", "11:00"]  # 10:00 would be no change
    (half_later,) = hanako.tap(_time(same_day, "10:30"))  # overlaps the booking it changes: one chair is enough
    assert "2026年11月25日(水) 10:30" in texts([half_later]) and "ご予約をこの日時に変更しますか？" in texts(
        [half_later]
    )
    times = hanako.tap(picker["data"], date="2026-11-26")
    (bubble,) = hanako.tap(_time(times, "14:00"))
    shown = texts([bubble])
    assert "ご予約をこの日時に変更しますか？" in shown and "2026年11月26日(木) 14:00" in shown
    assert "2026年11月25日(水) 10:00" in shown  # the booking it changes
    (old,) = _bookings(uow_factory, hanako)
    assert old.status == "booked"  # until the new time is confirmed
    confirm, _ = _buttons([bubble])
    assert "ご予約を変更しました" in texts(hanako.tap(confirm))
    by_status = {b.status: b for b in _bookings(uow_factory, hanako)}
    assert by_status["cancelled"].id == old.id
    assert by_status["booked"].starts_at == jst(26, 14)

    assert "このご予約はキャンセル済みです" in texts(hanako.tap(cancel))  # the old booking's button
    (listed,) = hanako.tap("action=reservations&step=list")
    assert "2026年11月26日(木) 14:00" in texts([listed]) and "2026年11月25日" not in texts([listed])
    _change, cancel = _buttons([listed])[:2]
    (ask,) = hanako.tap(cancel)
    assert "このご予約をキャンセルしますか？" in texts([ask])
    really, keep = _buttons([ask])
    assert keep == "action=reservations&step=list"
    assert "ご予約をキャンセルしました" in texts(hanako.tap(really))
    assert "このご予約はキャンセル済みです" in texts(hanako.tap(really))
    assert "今後のご予約はありません" in texts(hanako.tap("action=reservations&step=list"))
    assert {b.status for b in _bookings(uow_factory, hanako)} == {"cancelled"}


def test_after_the_deadline_the_customer_is_told_to_call_the_store(chat, salon, uow_factory, clock):
    hanako = _member(chat)
    _book(hanako, "2026-11-24", "10:00")
    (listed,) = hanako.tap("action=reservations&step=list")
    change, cancel = _buttons([listed])[:2]
    (ask,) = hanako.tap(cancel)
    really, _keep = _buttons([ask])

    clock.advance(hours=23)  # Monday 11:00: less than a day before (the store's deadline)
    (listed,) = hanako.tap("action=reservations&step=list")
    assert "このご予約の変更・キャンセルはお店にお電話ください：03-1234-5678" in texts([listed])
    assert change not in _buttons([listed]) and cancel not in _buttons([listed])
    too_late = "ここでは変更・キャンセルできなくなりました。渋谷店にお電話ください：03-1234-5678"
    assert too_late in texts(hanako.tap(really))  # the button from before
    assert too_late in texts(hanako.tap(change))
    assert [b.status for b in _bookings(uow_factory, hanako)] == ["booked"]


def test_days_and_times_that_cannot_be_booked_get_a_clear_answer(chat, salon, uow_factory):
    with uow_factory() as uow:
        store = uow.session.get(Store, salon)
        week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        store.business_hours = {"weekly": {name: ["10:00-19:00"] for name in week}, "holidays": ["2026-11-25"]}
        uow.commit()
    hanako = _member(chat)
    day = _start(hanako)

    past = hanako.tap(day, date="2026-11-21")  # a picker sent yesterday still allows yesterday
    assert "その日はすでに過ぎています" in texts(past) and _picker(past)["min"] == "2026-11-22"
    assert "その日はお休みです" in texts(hanako.tap(day, date="2026-11-25"))
    assert "ご予約は60日先まで承っています" in texts(hanako.tap(day, date="2027-02-01"))
    today = hanako.tap(day, date="2026-11-22")  # from 13:00 (an hour's notice)
    assert [action["label"] for action in _quick(today)][0] == "13:00"

    time_data = _time(hanako.tap(day, date="2026-11-23"), "10:00")
    gone = time_data.replace("at=20261123T0100Z", "at=20261121T0100Z")
    assert "この時間はすでに過ぎています" in texts(hanako.tap(gone))
    off_grid = time_data.replace("at=20261123T0100Z", "at=20261123T0110Z")
    assert "この時間はこのメニューを承っていません" in texts(hanako.tap(off_grid))
    holiday = time_data.replace("at=20261123T0100Z", "at=20261125T0100Z")
    assert "その日はお休みです" in texts(hanako.tap(holiday))
    assert "現在ご利用いただけません" in texts(hanako.tap("action=reservations&step=time&menu=999&at=20261123T0100Z"))
    assert "ご予約が見つかりません" in texts(hanako.tap("action=reservations&step=confirm&id=999"))
    assert "ボタンは現在ご利用いただけません" in texts(hanako.tap("action=reservations&step=nope"))
    assert _bookings(uow_factory, hanako) == []


def test_a_visitor_is_asked_to_become_a_member_first(chat, salon):
    visitor = chat("訪問者")
    visitor.follow()
    visitor.tap("action=consent&v=2026-11")
    assert "会員" in texts(visitor.say("予約"))
    assert "会員" in texts(visitor.tap("action=reservations&step=list"))


def test_an_english_customer_books_in_english(chat, salon):
    hanako = _member(chat, "Hanako", "en")
    (menus,) = hanako.say("reservation")
    assert "60 min · ¥5,500" in texts([menus]) and "Choose" in texts([menus])
    (choose,) = _buttons([menus])
    day = hanako.tap(choose)
    assert "Choose a day" in texts(day)
    times = hanako.tap(_picker(day)["data"], date="2026-11-25")
    assert "Free times on Wed, Nov 25, 2026 for カット at 渋谷店" in texts(times)
    (bubble,) = hanako.tap(_time(times, "10:00\u202fAM"))
    assert "Book this?" in texts([bubble]) and "Wed, Nov 25, 2026 10:00\u202fAM" in texts([bubble])
    confirm, _ = _buttons([bubble])
    done = texts(hanako.tap(confirm))
    assert "Your booking is confirmed." in done and "¥5,500" in done
    (listed,) = hanako.tap("action=reservations&step=list")
    assert "Change" in texts([listed]) and "Cancel" in texts([listed])
