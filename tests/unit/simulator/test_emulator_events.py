import json

import pytest
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhooks import AccountLinkEvent, FollowEvent, MessageEvent, PostbackEvent, UnfollowEvent

from bot.simulator.openapi import line_openapi


def all_events(emulator) -> list[dict]:
    uid = emulator.add_user("花子")
    return [
        emulator.follow(uid),
        emulator.follow(uid, is_unblocked=True),
        emulator.unfollow(uid),
        emulator.text(uid, "ポイント 😊\n2行目"),
        emulator.postback(uid, "action=points"),
        emulator.postback(uid, "action=book", params={"date": "2026-11-22"}),
        emulator.account_link(uid, nonce="n-1"),
        emulator.account_link(uid, nonce="n-2", result="failed"),
    ]


def test_every_event_builder_matches_webhook_yml(emulator):
    body = json.loads(emulator.webhook_body(all_events(emulator)))
    assert line_openapi().errors_for_webhook(body) == []


def test_events_carry_unique_ulid_like_ids_and_reply_tokens(emulator, clock):
    events = all_events(emulator)
    ids = [e["webhookEventId"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 and i.isalnum() for i in ids)
    assert all(e["timestamp"] == int(clock.now * 1000) for e in events)
    with_token = [e["type"] for e in events if "replyToken" in e]
    assert with_token == ["follow", "follow", "message", "postback", "postback", "accountLink"]
    assert events[3]["message"]["quoteToken"]


def test_user_ids_look_like_line_ids(emulator):
    uid = emulator.add_user("Taro", "en")
    assert uid.startswith("U") and len(uid) == 33 and int(uid[1:], 16) >= 0
    assert emulator.add_user("Fixed", line_user_id="U" + "a" * 32) == "U" + "a" * 32


def test_signed_body_parses_with_the_sdk(emulator):
    events = all_events(emulator)
    body = emulator.webhook_body(events)
    parsed = WebhookParser(emulator.channel_secret).parse(body.decode("utf-8"), emulator.signature(body))
    kinds = [type(e) for e in parsed]
    assert kinds == [
        FollowEvent,
        FollowEvent,
        UnfollowEvent,
        MessageEvent,
        PostbackEvent,
        PostbackEvent,
        AccountLinkEvent,
        AccountLinkEvent,
    ]
    assert parsed[3].message.text == "ポイント 😊\n2行目"
    assert parsed[5].postback.params == {"date": "2026-11-22"}


def test_a_tampered_body_fails_signature_validation(emulator):
    body = emulator.webhook_body(all_events(emulator))
    signature = emulator.signature(body)
    with pytest.raises(InvalidSignatureError):
        WebhookParser(emulator.channel_secret).parse(body.decode("utf-8").replace("花子", "X"), signature + "x")
    with pytest.raises(InvalidSignatureError):
        WebhookParser(emulator.channel_secret).parse(body.decode("utf-8")[:-1] + " }", signature)


def test_webhook_body_is_compact_utf8(emulator):
    body = emulator.webhook_body([emulator.text(emulator.add_user("花子"), "こんにちは")])
    assert "こんにちは".encode() in body and b": " not in body


def test_transcript_shows_what_the_user_did(emulator):
    uid = emulator.add_user("花子")
    emulator.follow(uid)
    emulator.text(uid, "予約")
    emulator.postback(uid, "action=menu", display_text="メニュー")
    assert [(i["from"], i["message"]["text"]) for i in emulator.transcript(uid)] == [
        ("user", "予約"),
        ("user", "メニュー"),
    ]


def test_standby_events_carry_no_reply_token_and_unsend_matches_webhook_yml(emulator):
    uid = emulator.add_user("花子")
    sent = emulator.text(uid, "取り消すメッセージ")
    emulator.mode = "standby"
    events = [emulator.follow(uid), emulator.text(uid, "hi"), emulator.postback(uid, "action=points")]
    assert all(e["mode"] == "standby" for e in events)
    assert ["replyToken" in e for e in events] == [True, False, False]
    unsend = emulator.unsend(uid, sent["message"]["id"])
    assert unsend["unsend"] == {"messageId": sent["message"]["id"]}
    body = json.loads(emulator.webhook_body([*events, unsend]))
    assert line_openapi().errors_for_webhook(body) == []
    assert "取り消すメッセージ" not in str(emulator.transcript(uid, include_system=True))
