"""Processing stored events: each once, the reply token aged from LINE's timestamp, no event left behind a lane."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot import handlers
from bot.simulator.events import signature
from crm_core import events
from crm_core.models import ChannelIdentity, TimelineEntry, WebhookEvent
from tests.conftest import CHANNEL_SECRET

GREETING = 2  # messages a new friend gets: the welcome and the privacy notice


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


@pytest.fixture
def line_on_our_clock(line, clock, monkeypatch):
    """LINE's clock is the app's injected clock, so token ages agree to the second."""
    monkeypatch.setattr(line, "now", lambda: clock.now().timestamp())
    return line


def _post(client, line, event: dict) -> None:
    body = line.webhook_body([event])
    headers = {"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    assert client.post("/callback", data=body, headers=headers).status_code == 200


def _stored(uow_factory) -> list[WebhookEvent]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


def _messages_in(uow_factory, user: str) -> list[str]:
    with uow_factory() as uow:
        return list(
            uow.session.exec(
                select(TimelineEntry.summary)
                .join(ChannelIdentity, ChannelIdentity.id == TimelineEntry.identity_id)
                .where(ChannelIdentity.address == user, TimelineEntry.kind == "message_in")
            )
        )


def _sent_by(line) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in line.requests if r.path.endswith(("/reply", "/push"))]


def test_an_event_already_done_is_not_processed_again(store_only_client, line, user, services, uow_factory):
    """A worker whose lease lapsed may still hold the id of an event another worker finished: it is left alone."""
    _post(store_only_client, line, line.follow(user))
    _post(store_only_client, line, line.text(user, "メニュー"))
    services.pump.drain(user)
    follow, text = _stored(uow_factory)
    assert (follow.status, text.status) == ("done", "done")
    received = len(line.messages_to(user))

    assert services.pump.processor.process(text.id) == "skipped"
    assert services.pump.processor.process(follow.id, "follow", user) == "skipped"

    assert _messages_in(uow_factory, user) == ["メニュー"]  # the shop's inbox shows it once
    assert len(line.messages_to(user)) == received  # and the customer is not answered twice
    assert [event.attempts for event in _stored(uow_factory)] == [1, 1]


def test_a_failed_event_runs_again_only_when_re_queued(store_only_client, line, user, services, uow_factory):
    _post(store_only_client, line, line.follow(user))
    (event,) = _stored(uow_factory)
    with uow_factory() as uow:
        events.mark_failed(uow=uow, event_id=event.id, error="RuntimeError at handlers.py:1 in handle_follow")
        uow.commit()

    assert services.pump.processor.process(event.id) == "skipped"
    assert line.messages_to(user) == []

    with uow_factory() as uow:
        events.rerun(uow=uow, event_id=event.id)
        uow.commit()
    assert services.pump.processor.process(event.id) == "done"
    assert len(line.messages_to(user)) == GREETING


@pytest.mark.parametrize(("waited", "sent_as"), [(0, "reply"), (49, "reply"), (50, "push"), (61, "push")])
def test_the_reply_token_is_aged_from_when_line_sent_the_event(
    store_only_client, line_on_our_clock, user, services, clock, waited, sent_as
):
    """An event that waited (a busy lane, an outage) is answered by push once its token is near LINE's minute."""
    line = line_on_our_clock
    _post(store_only_client, line, line.follow(user))
    clock.advance(seconds=waited)

    services.pump.drain(user)

    assert _sent_by(line) == [sent_as]  # no reply LINE would refuse, no fallback after a refusal
    assert len(line.messages_to(user)) == GREETING


def test_an_event_stored_while_its_lane_was_being_released_is_processed(
    store_only_client, line, user, services, uow_factory, monkeypatch
):
    """The webhook stored a message just as the worker let go of the lane, and found the lane still taken."""
    release = events.release_lane
    arrived = []

    def release_while_a_message_arrives(**kwargs):
        if not arrived:
            arrived.append(True)
            _post(store_only_client, line, line.text(user, "メニュー"))
            assert services.pump.drain(user) == 0  # what the webhook's hand-off does: the lane is still leased
        release(**kwargs)

    monkeypatch.setattr(events, "release_lane", release_while_a_message_arrives)
    _post(store_only_client, line, line.follow(user))

    assert services.pump.drain(user) == 2  # no sweep needed: the worker looked once more after letting go

    assert [event.status for event in _stored(uow_factory)] == ["done", "done"]
    assert _messages_in(uow_factory, user) == ["メニュー"]
    assert len(line.messages_to(user)) > GREETING  # the menu answer came too


def test_an_event_that_finds_the_database_locked_waits_and_nothing_overtakes_it(
    store_only_client, line, user, services, uow_factory, clock, monkeypatch
):
    handle_follow, locked = handlers.HANDLERS["follow"], [True]

    def handle_follow_on_a_locked_database(ctx):
        if locked:
            locked.clear()
            raise OperationalError("UPDATE channel_identities", {}, sqlite3.OperationalError("database is locked"))
        handle_follow(ctx)

    monkeypatch.setitem(handlers.HANDLERS, "follow", handle_follow_on_a_locked_database)
    _post(store_only_client, line, line.follow(user))
    _post(store_only_client, line, line.text(user, "メニュー"))

    assert services.pump.drain(user) == 0
    follow, text = _stored(uow_factory)
    assert (follow.status, follow.attempts, text.status) == ("pending", 1, "pending")
    assert follow.retry_at > clock.now() and follow.last_error.startswith("temporary: OperationalError")
    assert services.pump.drain(user) == 0  # not due yet, and the message does not overtake it
    assert line.messages_to(user) == []

    clock.set(follow.retry_at)
    assert services.pump.drain(user) == 2
    assert [event.status for event in _stored(uow_factory)] == ["done", "done"]
    assert len(line.messages_to(user)) > GREETING  # the greeting, then the menu's answer
