"""What members read when they use the keywords: features still to come, stopping offers."""

from __future__ import annotations

from tests.e2e.conftest import texts


def _member(chat, name: str = "山田 花子", language: str = "ja"):
    person = chat(name, language=language)
    person.follow()
    person.tap("action=consent&v=2026-11")
    person.tap("action=register_new")
    return person


def test_coming_features_read_as_plain_english(chat):
    alex = _member(chat, "Alex", language="en")
    assert "You have no coupons right now." in texts(alex.say("Coupons"))
    assert "Reservations are coming soon." in texts(alex.say("Reservations"))


def test_coming_features_read_naturally_in_japanese(chat):
    hanako = _member(chat)
    assert "今ご利用いただけるクーポンはありません" in texts(hanako.say("クーポン"))
    assert "予約は準備中です" in texts(hanako.say("予約"))


def test_stopping_offers_promises_receipts_but_no_reminders_before_reservations_exist(chat):
    hanako = _member(chat)
    answer = texts(hanako.say("配信停止"))
    assert "レシートは引き続きお届けします" in answer
    assert "リマインド" not in answer
    alex = _member(chat, "Alex", language="en")
    answer = texts(alex.say("Stop offers"))
    assert "Receipts still arrive" in answer and "reminder" not in answer
