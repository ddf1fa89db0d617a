# ruff: noqa: S106  (a test password)
"""A marketer links their own LINE account with a code from the console, then test-sends a coupon flow to it."""

from __future__ import annotations

import re

from sqlmodel import select

from crm_core import staff
from crm_core.models import CustomerCoupon, OutboxMessage, StaffUser
from tests.e2e.conftest import texts
from tests.integration.console.conftest import csrf_token, log_in
from tests.shop import flow_coupon

FLOW_FORM = {"name": "おかえり", "trigger": "lapsed", "days": "60", "holdout_percent": "0"}


def test_a_marketer_links_their_line_and_gets_a_test_send_without_a_coupon(chat, client, uow_factory, settings, clock):
    with uow_factory() as uow:
        staff.create_staff_user(uow=uow, email="mkt@example.jp", password="correct horse battery", role="marketer")
        uow.commit()
    coupon_id = flow_coupon(uow_factory)
    assert log_in(client, "mkt@example.jp", "correct horse battery").status_code == 302
    form = {**FLOW_FORM, "coupon_id": str(coupon_id), "csrf_token": csrf_token(client, "/console/marketing/flows/new")}

    not_yet = client.post("/console/marketing/flows/new", data={**form, "action": "test_send"})
    assert not_yet.status_code == 400 and 'data-error="test_send"' in not_yet.get_data(as_text=True)
    page = client.get("/console/marketing/flows/new").get_data(as_text=True)
    code = re.search(r'data-field="link_code">[^<]*?(KZ-[A-Z2-7]{8})', page).group(1)

    phone = chat("マーケ 担当")
    phone.follow()
    assert "このコードは使えません" in texts(phone.say("KZ-AAAAAAAA"))  # a wrong code links nothing
    assert "テスト送信を受け取れる" in texts(phone.say(code.lower()))  # typed in lower case on a phone
    with uow_factory() as uow:
        linked = uow.session.exec(select(StaffUser).where(StaffUser.email == "mkt@example.jp")).one()
        assert linked.line_user_id == phone.line_user_id

    sent = client.post("/console/marketing/flows/new", data={**form, "action": "test_send"})

    assert sent.status_code == 200 and 'data-field="test_sent"' in sent.get_data(as_text=True)
    (message,) = phone.new_messages()
    assert "おかえりクーポン" in texts([message]) and "¥500引き" in texts([message])
    with uow_factory() as uow:
        assert uow.session.exec(select(CustomerCoupon)).first() is None  # a test issues no coupon
        pushed = select(OutboxMessage).where(
            OutboxMessage.address == phone.line_user_id, OutboxMessage.category != "reply"
        )
        (row,) = uow.session.exec(pushed).all()
        assert row.category == "transactional" and row.status == "sent"


def test_a_link_code_works_for_its_ten_minutes_and_the_next_only(uow_factory, settings, clock):
    with uow_factory() as uow:
        user = staff.create_staff_user(
            uow=uow, email="mkt@example.jp", password="correct horse battery", role="marketer"
        )
        till = staff.create_staff_user(uow=uow, email="till@example.jp", password="correct horse battery", role="staff")
        uow.commit()
        code = staff.line_link_code(user=user, secret=settings.secret_key, now=clock.now())
        tills = staff.line_link_code(user=till, secret=settings.secret_key, now=clock.now())
    clock.advance(minutes=20)
    with uow_factory() as uow:
        assert (
            staff.link_line_account(uow=uow, code=code, line_user_id="U" + "1" * 32, secret=settings.secret_key) is None
        )
    clock.advance(minutes=-10)
    with uow_factory() as uow:
        # staff at the till do not send flows: their code links nothing
        assert (
            staff.link_line_account(uow=uow, code=tills, line_user_id="U" + "1" * 32, secret=settings.secret_key)
            is None
        )
        linked = staff.link_line_account(uow=uow, code=code, line_user_id="U" + "1" * 32, secret=settings.secret_key)
        assert linked is not None and linked.email == "mkt@example.jp"
