"""Outbox delivery guards: nothing goes to a customer who blocked the shop, and no retry waits past LINE's return."""

from __future__ import annotations

import pytest

from bot.simulator.events import signature
from crm_core import outbox
from crm_core.models import OutboxMessage
from tests.conftest import CHANNEL_SECRET


def _post(client, line, event: dict) -> None:
    body = line.webhook_body([event])
    headers = {"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    assert client.post("/callback", data=body, headers=headers).status_code == 200


def _queue(uow_factory, address: str, text: str, category: str) -> int:
    with uow_factory() as uow:
        rows = outbox.enqueue(uow=uow, address=address, messages=[{"type": "text", "text": text}], category=category)
        uow.commit()
        return rows[0].id


def _pushes(line) -> list:
    return [r for r in line.requests if r.path.endswith("/push")]


@pytest.fixture
def friend(client, line, settle):
    """A LINE user who followed the shop (greeted by reply)."""
    user = line.add_user("山田 花子")
    _post(client, line, line.follow(user))
    settle()
    return user


@pytest.mark.parametrize("category", ["transactional", "marketing"])
def test_a_push_queued_before_the_customer_blocked_the_shop_is_never_sent(
    client, line, friend, settle, services, uow_factory, category
):
    message_id = _queue(uow_factory, friend, "本日限りのセール", category)
    _post(client, line, line.unfollow(friend))  # blocked before the delivery job ran
    settle()

    report = services.delivery.deliver_due()

    assert (report.cancelled, report.sent) == (1, 0)
    assert _pushes(line) == []  # LINE never even sees it
    with uow_factory() as uow:
        row = uow.session.get(OutboxMessage, message_id)
        assert (row.status, row.last_error) == ("cancelled", "blocked")
    assert services.delivery.deliver_due().sent == 0  # and it stays unsent


def test_a_customer_who_unblocks_gets_what_is_queued_after(client, line, friend, settle, services, uow_factory):
    _post(client, line, line.unfollow(friend))
    settle()
    _post(client, line, line.follow(friend, is_unblocked=True))
    settle()
    _queue(uow_factory, friend, "レシート", "transactional")
    assert services.delivery.deliver_due().sent == 1
    assert [r.json["messages"] for r in _pushes(line)] == [[{"type": "text", "text": "レシート"}]]


def test_after_a_six_hour_line_outage_the_message_goes_within_ten_minutes_of_its_return(
    line, friend, services, uow_factory, clock
):
    """The backoff grows, but never past 10 minutes: a long outage does not delay the receipt by hours."""
    message_id = _queue(uow_factory, friend, "お買い上げありがとうございます", "transactional")
    line.fail_next("/v2/bot/message/push", 503, times=10_000)
    for _ in range(6 * 30):
        services.delivery.deliver_due()
        clock.advance(minutes=2)
    with uow_factory() as uow:
        assert uow.session.get(OutboxMessage, message_id).status == "pending"
    assert all(message.get("text") != "お買い上げありがとうございます" for message in line.messages_to(friend))

    line.reset()  # LINE is back
    for _ in range(10):
        clock.advance(minutes=1)
        if services.delivery.deliver_due().sent:
            break
    assert line.messages_to(friend) == [{"type": "text", "text": "お買い上げありがとうございます"}]
