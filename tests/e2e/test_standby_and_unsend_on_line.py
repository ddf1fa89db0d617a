"""LINE as it really is: another tool in charge of the chat (standby), and messages taken back (unsend)."""

from __future__ import annotations

import json

from sqlmodel import select

from crm_core.models import ChannelIdentity, OutboxMessage, TimelineEntry, WebhookEvent


def _timeline(uow_factory, line_user_id: str) -> list[tuple[str, str | None]]:
    with uow_factory() as uow:
        rows = uow.session.exec(
            select(TimelineEntry)
            .join(ChannelIdentity, ChannelIdentity.id == TimelineEntry.identity_id)
            .where(ChannelIdentity.address == line_user_id)
            .order_by(TimelineEntry.id)
        )
        return [(entry.kind, entry.summary) for entry in rows]


def _identity(uow_factory, line_user_id: str) -> ChannelIdentity:
    with uow_factory() as uow:
        return uow.session.exec(select(ChannelIdentity).where(ChannelIdentity.address == line_user_id)).one()


def _messaging_requests(line) -> list:
    return [r for r in line.requests if "/message/" in r.path]


def test_standby_events_are_recorded_and_answered_with_nothing(chat, line, uow_factory):
    hanako = chat("山田 花子")
    hanako.follow()
    hanako.tap("action=consent&v=2026-11")
    line.mode = "standby"  # a staff member chats from LINE Official Account Manager now
    before = len(line.requests)
    sent = len(_messaging_requests(line))
    assert hanako.say("ポイント") == []
    assert hanako.tap("action=points") == []
    assert hanako.say("営業時間を教えてください") == []
    assert hanako.unfollow() == []
    assert _messaging_requests(line)[before:] == [] and len(line.requests) == before  # not a reply, not a push
    with uow_factory() as uow:
        assert uow.session.exec(select(OutboxMessage).where(OutboxMessage.category != "reply")).all() == []
        assert all(e.status == "done" for e in uow.session.exec(select(WebhookEvent)))
    timeline = _timeline(uow_factory, hanako.line_user_id)
    assert timeline[-4:] == [
        ("message_in", "ポイント"),
        ("postback", "points"),
        ("message_in", "営業時間を教えてください"),
        ("blocked", None),
    ]
    assert _identity(uow_factory, hanako.line_user_id).followed is False
    hanako.follow(unblocked=True)  # still standby: following again is kept, no greeting goes out
    assert _identity(uow_factory, hanako.line_user_id).followed is True
    assert hanako.new_messages() == [] and len(_messaging_requests(line)) == sent  # its profile is read, no more

    line.mode = "active"  # the bot is in charge again: it answers as before
    assert "ポイント" in json.dumps(hanako.say("メニュー"), ensure_ascii=False)


def test_an_unsent_message_leaves_no_text_behind(chat, line, uow_factory, settle):
    hanako = chat("山田 花子")
    hanako.follow()
    hanako.say("電話番号は090-1234-5678です")
    hanako.say("ポイント")
    event = line.text(hanako.line_user_id, "秘密のメモ")
    assert line.deliver([event]) == 200
    settle()
    unsent_id = event["message"]["id"]
    assert line.deliver([line.unsend(hanako.line_user_id, unsent_id)]) == 200
    settle()

    with uow_factory() as uow:
        stored = {e.event_type + ":" + e.webhook_event_id: e for e in uow.session.exec(select(WebhookEvent))}
        everything = json.dumps([e.body for e in stored.values()], ensure_ascii=False)
        assert "秘密のメモ" not in everything
        assert "電話番号は090-1234-5678です" in everything  # only the unsent message is forgotten
        assert all(e.status == "done" for e in stored.values())
    timeline = _timeline(uow_factory, hanako.line_user_id)
    assert "秘密のメモ" not in str(timeline)
    kinds = [kind for kind, _ in timeline]
    assert kinds.count("message_unsent") == 1
    assert ("message_unsent", None) in timeline
    assert ("message_in", "電話番号は090-1234-5678です") in timeline
    # the neutral entry keeps the message's place, before the answer to it
    assert kinds.index("message_unsent") < len(kinds) - 1 and kinds[-1] == "message_out"


def test_an_unsend_in_standby_also_forgets_the_text(chat, line, uow_factory, settle):
    hanako = chat("山田 花子")
    hanako.follow()
    line.mode = "standby"
    event = line.text(hanako.line_user_id, "間違えて送りました")
    assert line.deliver([event]) == 200
    assert line.deliver([line.unsend(hanako.line_user_id, event["message"]["id"])]) == 200
    settle()
    assert "間違えて送りました" not in str(_timeline(uow_factory, hanako.line_user_id))
    with uow_factory() as uow:
        assert "間違えて送りました" not in json.dumps([e.body for e in uow.session.exec(select(WebhookEvent))])
