"""When the outbox tries again, and when a reply is still a reply: at the exact second, on the injected clock."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from crm_core import outbox
from crm_core.models import OutboxMessage

# the pause after each failed try: doubling from 5-10 s, never past 10 minutes (jitter between half and whole)
LONGEST_PAUSES = [10, 20, 40, 80, 160, 320, 600, 600]
SHORTEST_PAUSES = [5, 10, 20, 40, 80, 160, 300, 300]


@pytest.fixture
def friend(line):
    user = line.add_user("山田 花子")
    line.follow(user)
    return user


def _queue(uow_factory, address, text, *, category="transactional", reply_token=None, claim=False) -> int:
    with uow_factory() as uow:
        rows = outbox.enqueue(
            uow=uow,
            address=address,
            messages=[{"type": "text", "text": text}],
            category=category,
            reply_token=reply_token,
            claim=claim,
        )
        uow.commit()
        return rows[0].id


def _row(uow_factory, message_id) -> OutboxMessage:
    with uow_factory() as uow:
        return uow.session.get(OutboxMessage, message_id)


def _pushes(line) -> list:
    return [r for r in line.requests if r.path.endswith("/push")]


@pytest.mark.parametrize(
    ("jitter", "pauses"),
    [(lambda low, high: high, LONGEST_PAUSES), (lambda low, high: low, SHORTEST_PAUSES)],
    ids=["longest", "shortest"],
)
def test_a_failing_push_is_tried_again_after_doubling_pauses_capped_at_ten_minutes(
    line, friend, services, uow_factory, clock, monkeypatch, jitter, pauses
):
    monkeypatch.setattr(random, "uniform", jitter)  # the jitter at one end of its range
    message_id = _queue(uow_factory, friend, "レシート")
    line.fail_next("/v2/bot/message/push", 503, times=len(pauses))

    seen = []
    for _ in pauses:
        assert services.delivery.deliver_due().retry_later == 1
        retry_at = _row(uow_factory, message_id).not_before
        seen.append((retry_at - clock.now()).total_seconds())
        clock.set(retry_at - timedelta(seconds=1))
        tried = len(_pushes(line))
        assert services.delivery.deliver_due().sent == 0  # one second early: not tried
        assert len(_pushes(line)) == tried
        clock.set(retry_at)

    assert seen == pauses
    assert services.delivery.deliver_due().sent == 1  # LINE is back: it goes at the first second it may
    assert line.messages_to(friend) == [{"type": "text", "text": "レシート"}]


@pytest.mark.parametrize(("waited", "sent_as"), [(49, "reply"), (50, "push")])
def test_a_reply_goes_as_a_reply_until_its_token_is_fifty_seconds_old(
    line, friend, services, uow_factory, clock, waited, sent_as
):
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, "メニューです", category="reply", reply_token=token)
    clock.advance(seconds=waited)

    assert services.delivery.deliver_due().sent == 1

    assert [r.path.rsplit("/", 1)[-1] for r in line.requests if r.path.endswith(("/reply", "/push"))] == [sent_as]
    assert _row(uow_factory, message_id).sent_via == sent_as
    assert line.messages_to(friend) == [{"type": "text", "text": "メニューです"}]


def test_a_message_another_delivery_holds_is_skipped_not_sent_twice(line, friend, services, uow_factory, clock):
    """The event worker claimed its answer to send it right after the commit; the delivery job leaves it alone."""
    message_id = _queue(uow_factory, friend, "メニューです", claim=True)

    report = services.delivery.deliver_due()

    assert report.sent == 0  # not even counted: the round claims only what nobody holds
    assert _pushes(line) == []
    clock.advance(seconds=outbox.CLAIM.total_seconds() + 1)  # its deliverer died: the claim lapsed
    assert services.delivery.deliver_due().sent == 1
    assert _row(uow_factory, message_id).status == "sent"
    assert len(_pushes(line)) == 1
