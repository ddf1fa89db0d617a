# ruff: noqa: S106  (test password)
"""Declining the privacy notice, agreeing later, and agreeing again to a newer notice."""

from __future__ import annotations

import re

from sqlmodel import select

from crm_core import customers, staff
from crm_core.models import ChannelIdentity, TimelineEntry
from tests.e2e.conftest import postback_data, texts
from tests.integration.console.conftest import log_in

CONSENT = "action=consent&v=2026-11"


def _identity(uow_factory, line_user_id: str) -> ChannelIdentity:
    with uow_factory() as uow:
        return uow.session.exec(select(ChannelIdentity).where(ChannelIdentity.address == line_user_id)).one()


def test_declining_drops_the_line_name_and_offers_the_notice_once_more(chat, uow_factory):
    hanako = chat("山田 花子")
    hanako.follow()
    assert "承知しました" in texts(hanako.tap("action=decline"))
    identity = _identity(uow_factory, hanako.line_user_id)
    assert identity.display_name is None
    assert identity.declined_at is not None and identity.consented_at is None

    offered = hanako.say("こんにちは")
    assert CONSENT in postback_data(offered), "the first message after declining gets the notice again"
    for text in ("ポイント", "こんにちは", "クーポン"):
        short = hanako.say(text)
        assert CONSENT not in postback_data(short), "the notice is not pushed on every message"
        assert "action=show_privacy" in postback_data(short)
        assert "メニュー" in texts(short)
    assert hanako.say("メニュー")[0]["type"] == "flex"
    assert CONSENT in postback_data(hanako.tap("action=show_privacy"))

    with uow_factory() as uow:
        after = uow.session.exec(
            select(TimelineEntry).where(
                TimelineEntry.identity_id == identity.id, TimelineEntry.occurred_at >= identity.declined_at
            )
        ).all()
        assert after and all("こんにちは" not in (entry.summary or "") for entry in after)


def test_agreeing_after_declining_works_as_before(chat, uow_factory):
    hanako = chat("山田 花子")
    hanako.follow()
    hanako.tap("action=decline")
    hanako.say("こんにちは")
    choice = hanako.tap(CONSENT)
    assert "action=register_new" in postback_data(choice)
    identity = _identity(uow_factory, hanako.line_user_id)
    assert identity.declined_at is None and identity.consented_at is not None
    hanako.tap("action=register_new")
    with uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        assert customer.name == "山田 花子"  # the name comes back from the LINE profile
    assert "わかりませんでした" in texts(hanako.say("こんにちは"))  # no more privacy reminders


def test_a_member_who_taps_do_not_agree_keeps_the_membership(chat, uow_factory):
    hanako = chat("山田 花子")
    hanako.follow()
    hanako.tap(CONSENT)
    hanako.tap("action=register_new")
    assert "配信停止" in texts(hanako.tap("action=decline"))
    identity = _identity(uow_factory, hanako.line_user_id)
    assert identity.declined_at is None and identity.consented_at is not None
    assert identity.display_name == "山田 花子"


def test_agreeing_again_updates_the_consent_date_on_the_customer_page(chat, uow_factory, clock, live_app):
    hanako = chat("山田 花子")
    hanako.follow()
    hanako.tap(CONSENT)
    hanako.tap("action=register_new")
    clock.advance(days=40)  # 2027-01-01: a newer notice, agreed again
    again = texts(hanako.tap(CONSENT))
    assert "同意いただきありがとうございます" in again and "連携が完了" not in again
    with uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        assert customer.consented_at.astimezone(clock.now().tzinfo) == clock.now()
        staff.create_staff_user(uow=uow, email="owner@example.jp", password="correct horse battery", role="admin")
        uow.commit()
    browser = live_app.test_client()
    with browser.session_transaction() as session:
        session["lang"] = "en"
    assert log_in(browser, "owner@example.jp").status_code == 302
    page = browser.get(f"/console/customers/{customer.id}").get_data(as_text=True)
    consent = re.search(r"Privacy notice</dt>\s*<dd>([^<]*)</dd>", page).group(1)
    assert "Jan 1, 2027" in consent
