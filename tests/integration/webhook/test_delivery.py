"""Outbox delivery against the LINE emulator: never twice, never lost, never stuck."""

from __future__ import annotations

import sys

import pytest

from crm_core import outbox
from crm_core.models import OutboxMessage

MONTHLY_LIMIT = "You have reached your monthly limit."
# nested deeper than the LINE SDK's serializer can recurse (two frames a level before Python 3.12, one after),
# yet shallow enough for the json module to store and read it
TOO_DEEP = 600 if sys.version_info < (3, 12) else 1100


@pytest.fixture
def friend(line):
    user = line.add_user("山田 花子")
    line.follow(user)
    return user


def _queue(uow_factory, address, messages, *, category="transactional", reply_token=None, claim=False) -> int:
    with uow_factory() as uow:
        rows = outbox.enqueue(
            uow=uow, address=address, messages=messages, category=category, reply_token=reply_token, claim=claim
        )
        uow.commit()
        return rows[0].id


def _row(uow_factory, message_id) -> OutboxMessage:
    with uow_factory() as uow:
        return uow.session.get(OutboxMessage, message_id)


def _pushes(line) -> list:
    return [r for r in line.requests if r.path.endswith("/push")]


def _text(text: str) -> list[dict]:
    return [{"type": "text", "text": text}]


def test_a_reply_line_took_just_before_the_process_died_is_not_pushed_again(
    line, friend, services, uow_factory, clock, caplog
):
    """The crash: the row says a reply was under way, LINE has it, the outcome was never recorded."""
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, _text("メニューです"), category="reply", reply_token=token, claim=True)
    with uow_factory() as uow:  # what delivery writes before the request leaves
        outbox.start_attempt(uow=uow, message_id=message_id, via="reply")
        uow.commit()
    services.gateway.reply(reply_token=token, messages=_text("メニューです"))  # LINE took it; then SIGKILL
    clock.advance(minutes=2)  # the claim lapsed, and the reply token with it

    report = services.delivery.deliver_due()

    assert report.sent == 1
    assert line.messages_to(friend) == _text("メニューです")  # once: no fallback push
    assert _pushes(line) == []
    row = _row(uow_factory, message_id)
    assert (row.status, row.sent_via, row.sending_via) == ("sent", "reply", None)
    assert row.last_error.startswith("reply-unconfirmed:")
    assert f"outbox {message_id}: an earlier reply may have reached LINE; counted as sent, not pushed" in caplog.text


def test_a_reply_that_never_left_still_goes_as_a_push(line, friend, services, uow_factory, clock):
    """No try was recorded (the process died before sending): nothing can have arrived, so it is pushed."""
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, _text("メニューです"), category="reply", reply_token=token, claim=True)
    clock.advance(minutes=2)

    assert services.delivery.deliver_due().sent == 1

    assert line.messages_to(friend) == _text("メニューです")
    assert [r.headers["x-line-retry-key"] for r in _pushes(line)] == [_row(uow_factory, message_id).retry_key]


def test_a_push_retried_after_its_answer_was_lost_is_answered_409_and_shown_once(
    line, friend, services, uow_factory, clock
):
    message_id = _queue(uow_factory, friend, _text("レシート"))
    row = _row(uow_factory, message_id)
    with uow_factory() as uow:
        outbox.start_attempt(uow=uow, message_id=message_id, via="push")
        uow.commit()
    services.gateway.push(to=friend, messages=_text("レシート"), retry_key=row.retry_key)  # then the crash
    clock.advance(minutes=2)

    assert services.delivery.deliver_due().sent == 1

    assert line.messages_to(friend) == _text("レシート")
    assert [r.status for r in _pushes(line)] == [200, 409]


def test_a_receipt_queued_during_a_one_hour_line_outage_still_arrives(line, friend, services, uow_factory, clock):
    message_id = _queue(uow_factory, friend, _text("お買い上げありがとうございます"))
    line.fail_next("/v2/bot/message/push", 500, times=10_000)
    for _ in range(60):
        services.delivery.deliver_due()
        clock.advance(minutes=1)
    row = _row(uow_factory, message_id)
    assert row.status == "pending" and row.attempts > 8
    assert line.messages_to(friend) == []

    line.reset()  # LINE is back
    clock.advance(minutes=10)
    assert services.delivery.deliver_due().sent == 1
    assert line.messages_to(friend) == _text("お買い上げありがとうございます")


def test_retries_stop_24_hours_after_the_first_try_with_the_reason(line, friend, services, uow_factory, clock):
    message_id = _queue(uow_factory, friend, _text("レシート"))
    line.fail_next("/v2/bot/message/push", 503, times=10_000)
    for _ in range(23 * 6):
        services.delivery.deliver_due()
        clock.advance(minutes=10)
    assert _row(uow_factory, message_id).status == "pending"
    for _ in range(2 * 6):
        services.delivery.deliver_due()
        clock.advance(minutes=10)
    row = _row(uow_factory, message_id)
    assert row.status == "failed"
    assert row.last_error.startswith("gave up after 24 hours: LINE answered 503")


def test_a_spent_monthly_quota_holds_pushes_until_next_month_but_replies_go(
    line, friend, services, uow_factory, clock, caplog
):
    first = _queue(uow_factory, friend, _text("一通目"))
    second = _queue(uow_factory, friend, _text("二通目"))
    line.fail_next("/v2/bot/message/push", 429, message=MONTHLY_LIMIT)

    report = services.delivery.deliver_due()

    assert (report.held, report.sent, report.failed) == (2, 0, 0)
    assert len(_pushes(line)) == 1  # the second was not even tried
    assert "LINE's monthly message quota is spent: pushes wait until 2026-12-01" in caplog.text
    with uow_factory() as uow:
        until = outbox.quota_held_until(uow=uow)
        assert until.isoformat() == "2026-11-30T15:00:00+00:00"  # 1 December, 00:00 in Japan
    clock.advance(days=3)
    assert services.delivery.deliver_due().sent == 0
    assert len(_pushes(line)) == 1

    token = line.text(friend, "ポイント")["replyToken"]  # replies are free: they still go
    answer = _queue(uow_factory, friend, _text("ポイントです"), category="reply", reply_token=token)
    assert services.delivery.deliver_due().sent == 1
    assert _row(uow_factory, answer).sent_via == "reply"

    clock.advance(days=6)  # 1 December
    assert services.delivery.deliver_due().sent == 2
    assert line.messages_to(friend) == _text("ポイントです") + _text("一通目") + _text("二通目")
    assert {_row(uow_factory, i).status for i in (first, second)} == {"sent"}


def test_rate_limiting_is_not_a_spent_quota(line, friend, services, uow_factory, clock):
    message_id = _queue(uow_factory, friend, _text("レシート"))
    line.fail_next("/v2/bot/message/push", 429)  # "The API rate limit has been exceeded"
    report = services.delivery.deliver_due()
    assert (report.retry_later, report.held) == (1, 0)
    with uow_factory() as uow:
        assert outbox.quota_held_until(uow=uow) is None
    clock.advance(minutes=1)
    assert services.delivery.deliver_due().sent == 1
    assert _row(uow_factory, message_id).status == "sent"


def test_a_message_line_refuses_fails_at_once_and_does_not_block_the_rows_behind(line, friend, services, uow_factory):
    postback = {"type": "postback", "label": "OK", "data": "x" * 301}  # LINE allows 300 characters
    too_long = [{"type": "text", "text": "どうぞ", "quickReply": {"items": [{"type": "action", "action": postback}]}}]
    refused = _queue(uow_factory, friend, too_long)
    _queue(uow_factory, friend, _text("次のメッセージ"))  # queued behind it

    report = services.delivery.deliver_due()

    assert (report.failed, report.sent) == (1, 1)
    row = _row(uow_factory, refused)
    assert row.status == "failed" and row.attempts == 1
    assert "LINE answered 400" in row.last_error and "data" in row.last_error
    assert line.messages_to(friend) == _text("次のメッセージ")
    assert services.delivery.deliver_due().sent == 0  # and it is not tried again every minute
    line.invalid_requests.clear()  # LINE's refusal was the point


def test_a_reply_line_refuses_for_its_messages_is_not_pushed_instead(line, friend, services, uow_factory, caplog):
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, [{"type": "text", "text": ""}], category="reply", reply_token=token)
    assert services.delivery.deliver_due().failed == 1
    assert _pushes(line) == []
    assert _row(uow_factory, message_id).status == "failed"
    assert f"outbox {message_id} failed for good: LINE 400" in caplog.text
    line.invalid_requests.clear()


@pytest.mark.parametrize("category", ["reply", "transactional"])
def test_the_rendered_json_reaches_line_unchanged(line, friend, services, uow_factory, category):
    """A property newer than the SDK's models (which drop what they do not know) arrives as it was written."""
    message = {
        "type": "text",
        "text": "新機能",
        "newerLineProperty": {"kind": "sparkle", "level": 2},
        "quickReply": {"items": [{"type": "action", "action": {"type": "message", "label": "はい", "text": "はい"}}]},
    }
    token = line.text(friend, "メニュー")["replyToken"] if category == "reply" else None
    _queue(uow_factory, friend, [message], category=category, reply_token=token)

    assert services.delivery.deliver_due().sent == 1

    sent = [r for r in line.requests if r.path.endswith(("/reply", "/push"))]
    assert [r.json["messages"] for r in sent] == [[message]]
    assert line.messages_to(friend) == [message]


@pytest.mark.parametrize("category", ["reply", "transactional"])
def test_a_message_kizuna_cannot_build_fails_at_once_and_does_not_stop_the_rows_behind(
    line, friend, services, uow_factory, category, caplog
):
    nested: list = []
    for _ in range(TOO_DEEP):
        nested = [nested]
    token = line.text(friend, "メニュー")["replyToken"] if category == "reply" else None
    broken = _queue(
        uow_factory, friend, [{"type": "text", "text": "x", "nested": nested}], category=category, reply_token=token
    )
    _queue(uow_factory, friend, _text("次のメッセージ"))

    report = services.delivery.deliver_due()

    assert (report.failed, report.sent) == (1, 1)
    row = _row(uow_factory, broken)
    assert (row.status, row.attempts) == ("failed", 1)  # never retried: it would fail the same way for 24 hours
    assert row.last_error == "LINE answered -1: RecursionError: Kizuna could not build this request"
    assert f"outbox {broken} could not be sent: RecursionError" in caplog.text
    assert line.messages_to(friend) == _text("次のメッセージ")


def test_every_try_is_written_down_before_its_request_leaves(line, friend, services, uow_factory, monkeypatch, caplog):
    """Should the process die while LINE answers, the row says which try was under way: the reply, then the push."""
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, _text("メニューです"), category="reply", reply_token=token)
    line.fail_next("/v2/bot/message/reply", 400, message="Invalid reply token")
    seen, answer = [], line.handle

    def answer_after_a_look(method, path, **kwargs):
        row = _row(uow_factory, message_id)
        seen.append((path.rsplit("/", 1)[-1], row.sending_via, row.attempts))
        return answer(method, path, **kwargs)

    monkeypatch.setattr(line, "handle", answer_after_a_look)
    caplog.set_level("INFO", logger="bot.delivery")

    assert services.delivery.deliver_due().sent == 1

    assert seen == [("reply", "reply", 1), ("push", "push", 2)]
    assert "reply token refused (400); pushing instead" in caplog.text
    line.invalid_requests.clear()  # LINE's refusal of the token was the point


def test_a_reply_that_may_have_reached_line_is_tried_as_a_reply_again_and_counts_as_sent_when_its_token_is_used(
    line, friend, services, uow_factory, clock, caplog
):
    """The dispatcher died while its reply was with LINE; its claim lapsed while the token is still fresh."""
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, _text("メニューです"), category="reply", reply_token=token)
    with uow_factory() as uow:  # what the dispatcher wrote before the request left
        outbox.start_attempt(uow=uow, message_id=message_id, via="reply")
        uow.commit()
    services.gateway.reply(reply_token=token, messages=_text("メニューです"))  # LINE took it; then SIGKILL
    caplog.set_level("INFO", logger="bot.delivery")

    assert services.delivery.deliver_due().sent == 1

    assert line.messages_to(friend) == _text("メニューです")  # once: LINE called the token used, no push
    assert _pushes(line) == []
    row = _row(uow_factory, message_id)
    assert (row.status, row.sent_via) == ("sent", "reply")
    assert f"reply token already used by an earlier try of outbox {message_id}: sent" in caplog.text
    line.invalid_requests.clear()  # the second reply's refusal was the point


def test_a_reply_line_answered_500_is_tried_again_as_a_reply_while_its_token_is_fresh(
    line, friend, services, uow_factory, clock, caplog
):
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, _text("メニューです"), category="reply", reply_token=token)
    line.fail_next("/v2/bot/message/reply", 500)

    report = services.delivery.deliver_due()

    assert (report.retry_later, report.failed, report.sent) == (1, 0, 0)
    assert f"outbox {message_id} will be retried: LINE 500" in caplog.text
    clock.set(_row(uow_factory, message_id).not_before)
    assert services.delivery.deliver_due().sent == 1
    assert [r.path.rsplit("/", 1)[-1] for r in line.requests if r.path.endswith(("/reply", "/push"))] == ["reply"] * 2
    assert line.messages_to(friend) == _text("メニューです")


def test_a_stale_reply_pushed_while_lines_quota_is_spent_is_held_like_any_push(
    line, friend, services, uow_factory, clock, caplog
):
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, _text("メニューです"), category="reply", reply_token=token)
    clock.advance(minutes=1)  # the token is stale: it goes as a push
    line.fail_next("/v2/bot/message/push", 429, message=MONTHLY_LIMIT)

    report = services.delivery.deliver_due()

    assert (report.held, report.sent, report.failed) == (1, 0, 0)
    row = _row(uow_factory, message_id)
    assert (row.status, row.held_reason) == ("pending", "quota")
    assert "LINE's monthly message quota is spent: pushes wait until 2026-12-01" in caplog.text


def test_a_stale_replys_push_whose_answer_was_lost_is_answered_409_when_tried_again_and_shown_once(
    line, friend, services, uow_factory, clock
):
    token = line.text(friend, "メニュー")["replyToken"]
    message_id = _queue(uow_factory, friend, _text("メニューです"), category="reply", reply_token=token)
    clock.advance(minutes=1)  # the token is stale: it goes as a push
    line.chaos(0, lost=1.0)  # LINE takes the push, but its answer is a 500
    assert services.delivery.deliver_due().retry_later == 1
    line.chaos(0)
    clock.advance(minutes=10)

    assert services.delivery.deliver_due().sent == 1

    assert [r.status for r in _pushes(line)] == [500, 409]
    assert line.messages_to(friend) == _text("メニューです")
    assert _row(uow_factory, message_id).status == "sent"
