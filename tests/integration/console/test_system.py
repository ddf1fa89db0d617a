"""The system page's outbox: admins see a spent LINE quota and send failed messages again."""

from __future__ import annotations

import pytest

from crm_core import outbox
from crm_core.models import OutboxMessage
from tests.integration.console.conftest import csrf_token

PAGE = "/console/system"
RECEIPT = [{"type": "text", "text": "レシート"}]


@pytest.fixture
def friend(line):
    user = line.add_user("山田 花子")
    line.follow(user)
    return user


def _failed_push(uow_factory, line, address) -> int:
    with uow_factory() as uow:
        row = outbox.enqueue(uow=uow, address=address, messages=RECEIPT, category="transactional")[0]
        outbox.start_attempt(uow=uow, message_id=row.id, via="push")
        outbox.mark_attempt_failed(uow=uow, message_id=row.id, error="LINE answered 500: down", retry_in=None)
        uow.commit()
        return row.id


def test_an_admin_sends_one_failed_message_again_with_its_retry_key(as_role, line, friend, uow_factory, services):
    message_id = _failed_push(uow_factory, line, friend)
    admin = as_role("admin")
    page = admin.get(PAGE).get_data(as_text=True)
    assert f'data-outbox-id="{message_id}"' in page and f"/console/system/outbox/{message_id}/retry" in page

    response = admin.post(f"/console/system/outbox/{message_id}/retry", data={"csrf_token": csrf_token(admin, PAGE)})

    assert response.status_code == 302
    assert f"Message {message_id} will be sent again" in admin.get(PAGE).get_data(as_text=True)
    assert services.delivery.deliver_due().sent == 1
    with uow_factory() as uow:
        row = uow.session.get(OutboxMessage, message_id)
        assert row.status == "sent"
    assert line.messages_to(friend) == RECEIPT
    assert line.requests[-1].headers["x-line-retry-key"] == row.retry_key


def test_sending_again_needs_a_csrf_token_and_a_failed_message(as_role, line, friend, uow_factory):
    message_id = _failed_push(uow_factory, line, friend)
    admin = as_role("admin")
    assert admin.post(f"/console/system/outbox/{message_id}/retry").status_code == 400  # no CSRF token
    token = csrf_token(admin, PAGE)
    assert admin.post("/console/system/outbox/999999/retry", data={"csrf_token": token}).status_code == 404
    assert admin.post(f"/console/system/outbox/{2**40}/retry", data={"csrf_token": token}).status_code == 404
    with uow_factory() as uow:
        assert uow.session.get(OutboxMessage, message_id).status == "failed"


def test_only_admins_send_messages_again(as_role, line, friend, uow_factory):
    message_id = _failed_push(uow_factory, line, friend)
    marketer = as_role("marketer")
    assert marketer.get(PAGE).status_code == 403
    token = csrf_token(marketer, "/console/")
    assert marketer.post("/console/system/outbox/retry", data={"csrf_token": token}).status_code == 403
    assert marketer.post(f"/console/system/outbox/{message_id}/retry", data={"csrf_token": token}).status_code == 403
    with uow_factory() as uow:
        assert uow.session.get(OutboxMessage, message_id).status == "failed"


def test_a_spent_quota_shows_on_the_dashboard_and_send_all_lifts_it(as_role, line, friend, uow_factory, services):
    with uow_factory() as uow:
        outbox.enqueue(
            uow=uow, address=friend, messages=[{"type": "text", "text": "お知らせ"}], category="transactional"
        )
        uow.commit()
    line.fail_next("/v2/bot/message/push", 429, message="You have reached your monthly limit.")
    assert services.delivery.deliver_due().held == 1
    admin = as_role("admin")
    for path in ("/console/", PAGE):
        page = admin.get(path).get_data(as_text=True)
        assert "monthly message limit is reached: pushes wait until Tue, Dec 1, 2026" in page
        assert 'data-quota-held="' in page
    ja = admin.get(PAGE + "?lang=ja").get_data(as_text=True)
    assert "月間メッセージ数の上限" in ja and "2026年12月1日" in ja

    admin.post("/console/system/outbox/retry", data={"csrf_token": csrf_token(admin, PAGE)})

    assert "data-quota-held" not in admin.get(PAGE).get_data(as_text=True)
    assert services.delivery.deliver_due().sent == 1
    assert line.messages_to(friend) == [{"type": "text", "text": "お知らせ"}]
