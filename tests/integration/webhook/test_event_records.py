"""What processing a stored event leaves for the shop: the LINE name, the timeline's summary, a bug's exact place."""

from __future__ import annotations

import pytest
from linebot.v3.messaging import TextMessage
from sqlmodel import select

from bot import handlers
from bot.simulator.events import signature
from crm_core.models import ChannelIdentity, TimelineEntry, WebhookEvent
from tests.conftest import CHANNEL_SECRET


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


def _post(client, line, event: dict) -> None:
    body = line.webhook_body([event])
    headers = {"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    assert client.post("/callback", data=body, headers=headers).status_code == 200


def _stored(uow_factory) -> list[WebhookEvent]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


def _summary(message: dict) -> str:
    return message.get("text") or message.get("altText")


def _profile_calls(line) -> int:
    return sum(1 for r in line.requests if r.path.startswith("/v2/bot/profile/"))


def test_a_new_friend_is_known_by_their_line_name_and_language(store_only_client, line, services, uow_factory):
    user = line.add_user("Emma Brown", language="en")
    _post(store_only_client, line, line.follow(user))
    services.pump.drain(user)

    with uow_factory() as uow:
        identity = uow.session.exec(select(ChannelIdentity).where(ChannelIdentity.address == user)).one()
    assert (identity.display_name, identity.language) == ("Emma Brown", "en")
    assert _profile_calls(line) == 1


def test_a_message_does_not_ask_line_for_the_profile_again(store_only_client, line, user, services):
    """Only a follow fetches it: one profile call per message would spend LINE's rate limit on nothing."""
    _post(store_only_client, line, line.follow(user))
    services.pump.drain(user)
    _post(store_only_client, line, line.text(user, "メニュー"))
    _post(store_only_client, line, line.postback(user, "action=card"))
    assert services.pump.drain(user) == 2

    assert _profile_calls(line) == 1


def test_the_timeline_shows_the_first_message_of_an_answer(store_only_client, line, user, services, uow_factory):
    _post(store_only_client, line, line.follow(user))
    services.pump.drain(user)

    welcome, notice = line.messages_to(user)  # the welcome and the privacy notice, in one reply
    assert _summary(welcome) != _summary(notice)
    with uow_factory() as uow:
        shown = uow.session.exec(
            select(TimelineEntry.summary)
            .join(ChannelIdentity, ChannelIdentity.id == TimelineEntry.identity_id)
            .where(ChannelIdentity.address == user, TimelineEntry.kind == "message_out")
        ).all()
    assert shown == [_summary(welcome)[:200]]


def test_a_handler_bug_is_recorded_with_the_file_line_and_function_that_raised(
    store_only_client, line, user, services, uow_factory, monkeypatch
):
    def handle_postback_with_a_bug(ctx):
        raise KeyError("what the customer wrote")  # the line recorded below

    raised_at = handle_postback_with_a_bug.__code__.co_firstlineno + 1
    monkeypatch.setitem(handlers.HANDLERS, "postback", handle_postback_with_a_bug)
    _post(store_only_client, line, line.postback(user, "action=consent&v=2026-11"))

    assert services.pump.drain(user) == 1

    (event,) = _stored(uow_factory)
    assert event.status == "failed"
    assert event.last_error == f"KeyError at test_event_records.py:{raised_at} in handle_postback_with_a_bug"


def test_a_bug_inside_a_library_is_recorded_at_our_line_that_called_it(
    store_only_client, line, user, services, uow_factory, monkeypatch
):
    """The library's own frame (in site-packages) would not tell the shop's developer which call was wrong."""

    def handle_postback_with_a_bug(ctx):
        ctx.replies.append(TextMessage(text=None))  # the message library refuses it: the line recorded below

    called_at = handle_postback_with_a_bug.__code__.co_firstlineno + 1
    monkeypatch.setitem(handlers.HANDLERS, "postback", handle_postback_with_a_bug)
    _post(store_only_client, line, line.postback(user, "action=consent&v=2026-11"))

    assert services.pump.drain(user) == 1

    (event,) = _stored(uow_factory)
    assert event.last_error == f"ValidationError at test_event_records.py:{called_at} in handle_postback_with_a_bug"


def test_an_event_id_that_is_not_stored_is_skipped(services, line):
    assert services.pump.processor.process(404_404) == "skipped"
    assert line.requests == []  # LINE is not asked anything for it
