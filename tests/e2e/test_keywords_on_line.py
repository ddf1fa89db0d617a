"""What members read when they use the keywords: nothing to offer yet, stopping offers."""

from __future__ import annotations

from tests.e2e.conftest import texts


def _member(chat, name: str = "山田 花子", language: str = "ja"):
    person = chat(name, language=language)
    person.follow()
    person.tap("action=consent&v=2026-11")
    person.tap("action=register_new")
    return person


def test_nothing_to_offer_yet_reads_as_plain_english(chat):
    alex = _member(chat, "Alex", language="en")
    assert "You have no coupons right now." in texts(alex.say("Coupons"))
    assert "bookings on LINE are not open yet." in texts(alex.say("Reservations"))  # no store takes bookings


def test_nothing_to_offer_yet_reads_naturally_in_japanese(chat):
    hanako = _member(chat)
    assert "今ご利用いただけるクーポンはありません" in texts(hanako.say("クーポン"))
    assert "LINEでのご予約はまだ受け付けていません" in texts(hanako.say("予約"))


def test_stopping_offers_promises_receipts_and_reservation_reminders(chat):
    hanako = _member(chat)
    answer = texts(hanako.say("配信停止"))
    assert "レシートや予約のリマインドは引き続きお届けします" in answer
    alex = _member(chat, "Alex", language="en")
    answer = texts(alex.say("Stop offers"))
    assert "Receipts and reservation reminders still arrive" in answer
