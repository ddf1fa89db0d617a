"""POST /callback: the signature gate, storing each event once, and processing after the answer."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot import handlers
from bot.simulator.events import signature
from crm_core.models import ChannelIdentity, OutboxMessage, TimelineEntry, WebhookEvent
from tests.conftest import CHANNEL_SECRET


def _post(client, body: bytes, *, sign: bool = True, secret: str = CHANNEL_SECRET):
    headers = {"Content-Type": "application/json"}
    if sign:
        headers["X-Line-Signature"] = signature(body, channel_secret=secret)
    return client.post("/callback", data=body, headers=headers)


def _stored(uow_factory) -> list[WebhookEvent]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


def test_forged_signature_is_refused_and_nothing_is_stored(client, line, user, uow_factory):
    body = line.webhook_body([line.follow(user)])
    response = _post(client, body, secret="not-the-channel-secret")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_signature"
    assert _stored(uow_factory) == []


def test_missing_signature_is_refused(client, line, user, uow_factory):
    response = _post(client, line.webhook_body([line.follow(user)]), sign=False)
    assert response.status_code == 400
    assert _stored(uow_factory) == []


def test_body_changed_after_signing_is_refused(client, line, user, uow_factory):
    body = line.webhook_body([line.text(user, "hello")])
    tampered = body.replace(b"hello", b"HELLO")
    response = client.post(
        "/callback", data=tampered, headers={"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    )
    assert response.status_code == 400
    assert _stored(uow_factory) == []


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"events": "nope"}', b'{"events": [42]}', b"\xff\xfe"])
def test_signed_garbage_is_refused(client, body, uow_factory):
    response = _post(client, body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_body"
    assert _stored(uow_factory) == []


def test_line_verify_request_with_no_events_answers_200(client):
    assert _post(client, json.dumps({"destination": "U" + "0" * 32, "events": []}).encode()).status_code == 200


def test_redelivered_event_is_acknowledged_and_not_processed_twice(client, line, user, uow_factory, settle):
    event = line.follow(user)
    assert _post(client, line.webhook_body([event])).status_code == 200
    settle()
    redelivered = dict(event, deliveryContext={"isRedelivery": True})
    assert _post(client, line.webhook_body([redelivered])).status_code == 200
    settle()
    assert len(_stored(uow_factory)) == 1
    assert len(line.messages_to(user)) == 2  # one greeting + one privacy notice, not twice
    with uow_factory() as uow:
        assert len(uow.session.exec(select(OutboxMessage)).all()) == 1


def test_events_of_one_user_are_processed_in_the_order_line_sent_them(client, line, uow_factory, settle):
    users = [line.add_user(f"user {n}") for n in range(3)]
    for user_id in users:
        _post(client, line.webhook_body([line.follow(user_id)]))
    for n in range(12):
        events = [line.text(user_id, f"message {n}") for user_id in users]
        assert _post(client, line.webhook_body(events)).status_code == 200
    settle()
    with uow_factory() as uow:
        for user_id in users:
            entries = uow.session.exec(
                select(TimelineEntry)
                .join(ChannelIdentity, ChannelIdentity.id == TimelineEntry.identity_id)
                .where(ChannelIdentity.address == user_id, TimelineEntry.kind == "message_in")
                .order_by(TimelineEntry.id)
            ).all()
            assert [e.summary for e in entries] == [f"message {n}" for n in range(12)]
    assert all(event.status == "done" for event in _stored(uow_factory))


def test_a_failing_event_is_kept_and_does_not_block_the_next(
    client, line, user, uow_factory, settle, monkeypatch, services
):
    def explode(ctx):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(handlers.HANDLERS, "postback", explode)
    _post(client, line.webhook_body([line.follow(user)]))
    _post(client, line.webhook_body([line.postback(user, "action=consent&v=2026-11")]))
    _post(client, line.webhook_body([line.text(user, "メニュー")]))
    settle()
    follow, postback, text = _stored(uow_factory)
    assert (follow.status, postback.status, text.status) == ("done", "failed", "done")
    assert postback.last_error.startswith("RuntimeError at test_callback.py:")
    assert "handler bug" not in postback.last_error  # what a customer wrote can be in a message: never kept
    assert postback.body["postback"]["data"] == "action=consent&v=2026-11"  # nothing lost

    monkeypatch.undo()
    from crm_core import events

    with uow_factory() as uow:
        events.rerun(uow=uow, event_id=postback.id)
        uow.commit()
    services.pump.drain(user)
    assert _stored(uow_factory)[1].status == "done"


def test_webhook_answers_even_when_line_is_down_and_the_answer_is_retried(
    client, line, user, uow_factory, settle, services, clock
):
    line.fail_next("/v2/bot/message/reply", 500, times=1)
    assert _post(client, line.webhook_body([line.follow(user)])).status_code == 200
    settle()
    with uow_factory() as uow:
        row = uow.session.exec(select(OutboxMessage)).one()
        assert row.status == "pending" and row.attempts == 1 and row.not_before > clock.now()
    assert line.messages_to(user) == []
    clock.advance(minutes=1)
    report = services.delivery.deliver_due()
    assert report.sent == 1
    assert len(line.messages_to(user)) == 2
    push = [r for r in line.requests if r.path.endswith("/push") and r.status == 200]
    assert len(push) == 1  # the reply token had expired by then: a push, with its retry key
    assert push[0].headers["x-line-retry-key"] == row.retry_key


def test_rate_limited_push_waits_and_is_sent_once(client, line, user, uow_factory, settle, services, clock):
    _post(client, line.webhook_body([line.follow(user)]))
    settle()
    line.fail_next("/v2/bot/message/reply", 400, message="Invalid reply token")
    line.fail_next("/v2/bot/message/push", 429)
    _post(client, line.webhook_body([line.text(user, "メニュー")]))
    settle()
    before = len(line.messages_to(user))
    clock.advance(minutes=5)
    assert services.delivery.deliver_due().sent == 1
    assert services.delivery.deliver_due().sent == 0
    assert len(line.messages_to(user)) == before + 1


def test_group_events_are_stored_without_errors_and_not_answered(client, line, user, uow_factory, settle):
    """A member's message in a group the bot was added to is not the member writing to the shop."""
    event = line.text(user, "メニュー")  # answered in a one-to-one chat
    event["source"] = {"type": "group", "groupId": "C" + "1" * 32, "userId": user}
    assert _post(client, line.webhook_body([event])).status_code == 200
    settle()
    assert _stored(uow_factory)[0].status == "done"
    assert [r.path for r in line.requests if r.method == "POST"] == []
    with uow_factory() as uow:
        assert uow.session.exec(select(ChannelIdentity)).all() == []


def test_a_reply_that_timed_out_but_reached_line_is_not_sent_again(
    client, line, user, uow_factory, settle, services, clock
):
    """LINE took the reply but the answer was lost: the retry finds the token used and sends nothing more."""
    _post(client, line.webhook_body([line.follow(user)]))
    settle()
    before = len(line.messages_to(user))
    event = line.text(user, "メニュー")
    with uow_factory() as uow:
        from crm_core import outbox

        rows = outbox.enqueue(
            uow=uow, address=user, messages=[{"type": "text", "text": "hi"}], category="reply",
            reply_token=event["replyToken"], dedupe_key="manual",
        )  # fmt: skip
        rows[0].sending_via = "reply"  # what a reply that got no answer leaves behind
        rows[0].attempts = 1
        uow.commit()
    # the first try did reach LINE
    services.gateway.reply(reply_token=event["replyToken"], messages=[{"type": "text", "text": "hi"}])
    line.invalid_requests.clear()
    report = services.delivery.deliver_due()
    assert report.sent == 1
    assert len(line.messages_to(user)) == before + 1  # once, not twice
    assert not [r for r in line.requests if r.path.endswith("/push")]
    line.invalid_requests.clear()  # the used token's 400 was expected here
